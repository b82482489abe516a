"""Gaussian random fields for ConDiff-style log-normal coefficients.

ConDiff draws a diffusion coefficient ``k = exp(g)`` where ``g`` is a centred
Gaussian random field (GRF) produced by the ``parafields`` library::

    parafields.generate_field(cells=(n + 1, n + 1), extensions=(1.0, 1.0),
                              covariance=C, variance=V, seed=S)

with every other option at its default (``corrLength=0.05``,
``embedding_factor=2``, classical circulant embedding).  This module offers

* :class:`ParafieldsSampler` -- the reference sampler: one reused parafields
  ``RandomField``, reseeded per field, bit-for-bit identical to a fresh
  ``generate_field(..., seed=seed)`` call but ~11x (65^2) / ~3.5x (129^2)
  cheaper;
* :class:`CirculantGRF` -- a batched numpy / ``scipy.fft`` circulant-embedding
  sampler that draws from the *same Gaussian distribution* as parafields (not
  the same numbers: it is driven by a :class:`numpy.random.Generator`);
* :func:`contrast` and :func:`first_accepted` for ConDiff's rejection step.

Geometry
--------
The domain is the box ``[0, L_0] x [0, L_1]`` (the unit square for ConDiff;
all lengths are in these domain units).  With ``cells = (N_0, N_1)`` the mesh
width is ``h_i = L_i / N_i`` and ``field[a, b]`` is the value at the cell
centre ``((a + 1/2) h_0, (b + 1/2) h_1)``; axis 0 is the x direction, exactly
as in ``parafields.RandomField.evaluate()`` (shape ``(N_0, N_1)``).  For
ConDiff ``N_0 = N_1 = n + 1`` and ``h = 1 / (n + 1)``.

Covariance functions (nominal)
------------------------------
parafields' C++ backend (dune-randomfield / parafields-core) defines an
isotropic stationary covariance ``C(d) = V rho(r)`` with ``r = |d| / ell``:
the lag vector ``d`` (domain units) is scaled by ``1 / ell`` (``corrLength``,
default 0.05) before taking the Euclidean norm, ``V`` is ``variance``, and

* ``"exponential"``: ``rho(r) = exp(-r)``
* ``"gaussian"``:    ``rho(r) = exp(-r**2)``  (no factor 1/2)
* ``"cubic"``:       ``rho(r) = 1 - 7 r^2 + 8.75 r^3 - 3.5 r^5 + 0.75 r^7``
  for ``r <= 1`` and ``0`` for ``r > 1`` (compact support: no correlation
  beyond one correlation length, 0.05 domain units).

Evidence (``tests/test_fields.py``): parafields' custom-covariance hook calls
a Python callable with ``(variance, d / corrLength)`` at the lags ``k h``,
``k = 0 .. N``; passing each formula above as such a callable reproduces the
built-in field for the same seed (max abs difference 0.0 cubic, 2e-15
exponential, 5e-10 gaussian -- rounding of near-zero eigenvalues), while the
wrong candidates (``exp(-r**2/2)`` etc.) differ by O(1); empirical lag
covariances of parafields fields match (with the correction below).

What parafields 1.0.3 actually samples
--------------------------------------
The classical circulant embedding puts the covariance on a periodic
``M_0 x M_1 = 2 N_0 x 2 N_1`` grid (``c(k) = C(d(k))`` with ``d_i = k_i h_i``
folded to the nearest periodic copy, i.e. ``k_i -> k_i - M_i`` when
``k_i h_i > M_i h_i / 2``); its eigenvalues ``lambda = FFT2(c) / (M_0 M_1)``
are the spectrum; tiny negative ones (``> -1e-14``) are clipped to 0, more
negative ones raise ``NegativeEigenvalueError`` (CirculantGRF applies the
same rule, relative to ``V``, and agreed with parafields on every setting
tried).  parafields' default field
backend (R2C) then draws Hermitian noise on the half spectrum
``k_0 = 0 .. M_0/2`` and applies one complex-to-real FFT.  In the two
self-conjugate planes ``k_0 in {0, M_0/2}`` it draws ``(k_0, k_1)`` and
``(k_0, -k_1)`` independently although the c2r transform only keeps their
Hermitian part, so those modes (``k_1 not in {0, M_1/2}``) get **half** their
eigenvalue.  The realised field is therefore the stationary GRF with spectrum
``mu = lambda`` except ``mu = lambda / 2`` in those planes
(:func:`parafields_spectrum`).  This was verified *exactly* (1e-15) by probing
parafields with unit noise vectors through its custom-``rng`` hook and forming
the full covariance matrix, and statistically on the ConDiff grids.

Effect on the ConDiff settings: the pointwise variance is ``0.976 V``
(exponential), ``0.979 V`` (gaussian), ``0.991 V`` (cubic) at both 65^2 and
129^2, and the field is slightly anisotropic: covariances at x-lags are
lowered by a nearly constant amount (about 0.02 V for exponential and
gaussian, 0.009 V for cubic -- so long x-lags have slightly *negative*
covariance where the nominal value is 0), at y-lags only near lag 0.
E.g. exponential 65^2: lag (1, 0) 0.7125 V, lag (0, 1) 0.7142 V, nominal
0.7351 V.  :class:`CirculantGRF` reproduces this by default
(``match="parafields"``); ``match="nominal"`` gives exactly ``V rho``.

Sampling by circulant embedding
-------------------------------
With ``s = sqrt(mu)`` and complex noise ``z = xi_1 + i xi_2`` (``xi`` i.i.d.
standard normal, ``M_0 M_1`` complex entries), ``w = FFT2(s * z)`` has
``Re(w)`` and ``Im(w)`` independent, each with covariance
``sum_k mu(k) exp(2 pi i k.d / M)``; restricting to the first ``N_0 x N_1``
points gives two independent fields with the target covariance.  Only the
window is observed, so any embedding whose realised window covariance equals
the target gives the identical distribution: ``embedding="auto"`` picks the
smallest FFT-friendly ``(M_0, M_1)`` whose folded target covariance has a
nonnegative spectrum and reproduces the target at every window lag to
``tol * V`` (``tol = 1e-14``).  ConDiff shapes chosen (parafields mode;
nominal mode in brackets where different): 65^2: cubic 70, exponential 128,
gaussian 84; 129^2: cubic 140 [135], exponential 256, gaussian 165 -- against
130 / 258 for ``embedding="factor"``.  :attr:`CirculantGRF.max_covariance_error`
reports the achieved error (<= 1e-14 V for all ConDiff settings).

Measured throughput
-------------------
2-core CPU (shared with other jobs, so CPU time of the sampling thread was
measured: best of several runs), single thread, float64, numpy 2.4.6 /
scipy 1.17.1, PCG64 ``Generator``, ``match="parafields"``; fields/s::

                                  65 x 65                 129 x 129
                             exp.  gauss. cubic      exp.  gauss. cubic
  fresh generate_field()      180    170    175       114    125    117
  ParafieldsSampler          1950   1860   1900       400    405    400
  CirculantGRF "factor"      4300   4300   4300       880    870    880
  CirculantGRF "auto"        4800  10700  14500      1070   2650   3750

CirculantGRF's batch size hardly matters between 16 and 128 (work is done
in chunks of ``chunk_pairs`` field pairs; 8 pairs = 16 fields, the
default, was best or equal).  55-70 % of
its time is drawing the normal deviates (~1.06e8 normals/s;
every field needs ``M_0 M_1`` of them, which bounds the rate at
``1.06e8 / (M_0 M_1)``), the rest is the FFT.  Variants tried: one full
complex ``fft2`` on noise assembled from two real arrays (25-50 % slower);
FFT along axis 0 vs axis 1 first, with the window cut between the two 1-D
passes (equal within noise; axis 0 first is used); the power-of-two
embedding 128 / 256 vs 130 / 258 (10-20 % faster for exponential).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np
import scipy.fft as sfft

__all__ = [
    "COVARIANCES",
    "NegativeEigenvalueError",
    "correlation",
    "covariance_at",
    "ParafieldsSampler",
    "CirculantGRF",
    "parafields_spectrum",
    "contrast",
    "first_accepted",
]

#: Covariance models supported here (names as in parafields).
COVARIANCES = ("cubic", "exponential", "gaussian")


class NegativeEigenvalueError(ValueError):
    """The circulant embedding has significantly negative eigenvalues."""


def correlation(covariance: str, r) -> np.ndarray:
    """Correlation ``rho(r)`` of a covariance model (``rho(0) = 1``).

    ``r`` is the dimensionless distance ``|x - y| / corr_length``.

    * exponential: ``exp(-r)``
    * gaussian:    ``exp(-r**2)``
    * cubic:       ``1 - 7 r^2 + 8.75 r^3 - 3.5 r^5 + 0.75 r^7`` on ``[0, 1]``,
      ``0`` for ``r > 1``.
    """
    r = np.asarray(r, dtype=np.float64)
    if covariance == "exponential":
        return np.exp(-r)
    if covariance == "gaussian":
        return np.exp(-r * r)
    if covariance == "cubic":
        r2 = r * r
        r3 = r2 * r
        r5 = r3 * r2
        r7 = r5 * r2
        poly = 1.0 - 7.0 * r2 + 8.75 * r3 - 3.5 * r5 + 0.75 * r7
        return np.where(r > 1.0, 0.0, poly)
    raise ValueError(
        f"unknown covariance {covariance!r}; expected one of {COVARIANCES}"
    )


def covariance_at(covariance: str, variance: float, corr_length: float, *offsets):
    """Covariance ``V * rho(|d| / ell)`` for a lag vector ``d`` (domain units).

    ``offsets`` are the lag components (arrays broadcast together), e.g.
    ``covariance_at("gaussian", 1.0, 0.05, dx, dy)``.  Each component is scaled
    by ``1 / ell`` before taking the Euclidean norm, as parafields does.
    """
    inv = 1.0 / corr_length
    s = 0.0
    for d in offsets:
        t = inv * np.asarray(d, dtype=np.float64)
        s = s + t * t
    return variance * correlation(covariance, np.sqrt(s))


# --------------------------------------------------------------------------
# parafields reference sampler
# --------------------------------------------------------------------------
class ParafieldsSampler:
    """Reuse one parafields ``RandomField``; reseed it per field.

    ``sampler.field(seed)`` returns (a private copy of) exactly the array that
    ``parafields.generate_field(cells=n_cells, extensions=(1.0,) * dim,
    covariance=covariance, variance=variance, corrLength=corr_length,
    seed=seed).evaluate()`` would return, for any order of seeds, repeated
    seeds included.  The covariance matrix and its FFT are computed once, so a
    field costs one noise draw and one FFT instead of a full set-up (~11x
    cheaper at 65 x 65, ~3.5x at 129 x 129).

    Note on repeated seeds: ``RandomField.generate(seed)`` does nothing when
    ``seed`` equals the previously used seed and ``evaluate()`` then returns
    its cached array *by reference*.  That cached array is the field for that
    seed, so skipping is correct as long as it is never modified; this class
    only ever hands out copies, and additionally keeps its own copy of the
    last field so a repeated seed never touches the backend.

    ``seed`` must be an integer in ``[0, 2**32)`` (C++ ``unsigned int``).
    """

    def __init__(
        self,
        n_cells: Tuple[int, ...],
        covariance: str,
        variance: float,
        corr_length: float = 0.05,
        extensions: Optional[Sequence[float]] = None,
    ):
        import parafields  # local import: optional heavy dependency

        self.n_cells = tuple(int(c) for c in n_cells)
        self.covariance = covariance
        self.variance = float(variance)
        self.corr_length = float(corr_length)
        if extensions is None:
            extensions = (1.0,) * len(self.n_cells)
        self.extensions = tuple(float(e) for e in extensions)
        self._rf = parafields.generate_field(
            cells=self.n_cells,
            extensions=self.extensions,
            covariance=covariance,
            variance=self.variance,
            corrLength=self.corr_length,
            seed=0,
        )
        self._last_seed: Optional[int] = None
        self._last: Optional[np.ndarray] = None

    @staticmethod
    def _check_seed(seed) -> int:
        s = int(seed)
        if s != seed or not 0 <= s < 2**32:
            raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
        return s

    def field(self, seed: int) -> np.ndarray:
        """The field for ``seed`` as a fresh C-ordered float64 array."""
        s = self._check_seed(seed)
        if s == self._last_seed and self._last is not None:
            return self._last.copy()
        self._rf.generate(seed=s)
        out = np.array(self._rf.evaluate(), dtype=np.float64, order="C", copy=True)
        self._last_seed = s
        self._last = out.copy()
        return out


# --------------------------------------------------------------------------
# batched circulant-embedding sampler
# --------------------------------------------------------------------------
def _lag_coordinates(M: int, h: float, period: float) -> np.ndarray:
    """Signed lag ``k h`` of embedded grid index ``k``, folded to the nearest copy.

    Same rule as parafields' classical embedding: fold when ``k h > period / 2``.
    """
    x = np.arange(M, dtype=np.float64) * h
    return np.where(x > 0.5 * period, x - period, x)


def _folded_index(M: int) -> np.ndarray:
    """Integer lag of embedded index ``k``: ``min(k, M - k)`` (>= 0)."""
    k = np.arange(M)
    return np.minimum(k, M - k)


def _self_conjugate(M: int) -> np.ndarray:
    """Boolean mask of frequencies ``k`` with ``2 k = 0 (mod M)``."""
    return (2 * np.arange(M)) % M == 0


def parafields_spectrum(lam: np.ndarray) -> np.ndarray:
    """Spectrum that parafields' default (R2C) field backend actually realises.

    ``lam`` are the (clipped, normalised) eigenvalues of the circulant
    embedding, shape ``(M_0, M_1)``, axis 0 = x.  parafields draws Hermitian
    noise on the half spectrum ``k_0 = 0 .. M_0/2`` and transforms it with a
    complex-to-real FFT.  In the self-conjugate planes ``k_0 in {0, M_0/2}``
    the noise at ``(k_0, k_1)`` and ``(k_0, -k_1)`` is drawn independently
    although the c2r transform only uses its Hermitian part, so every mode in
    those planes with ``k_1 not in {0, M_1/2}`` gets half its variance.
    Verified against parafields 1.0.3 to 1e-15 by probing it with unit noise
    vectors (``tests/test_fields.py``).
    """
    mu = np.array(lam, dtype=np.float64, copy=True)
    s0 = _self_conjugate(mu.shape[0])
    s1 = _self_conjugate(mu.shape[1])
    mu[np.ix_(s0, ~s1)] *= 0.5
    return mu


class CirculantGRF:
    """Batched circulant-embedding sampler of a stationary Gaussian field.

    Parameters
    ----------
    cells : tuple of 2 ints
        Grid cells ``(N_0, N_1)``; values live at cell centres (see module
        docstring).  ConDiff: ``(n + 1, n + 1)``.
    extensions : tuple of 2 floats
        Domain side lengths ``(L_0, L_1)`` (the unit square by default).
    covariance : {"cubic", "exponential", "gaussian"}
    variance : float
        ``V`` in ``C(d) = V rho(|d| / ell)``.
    corr_length : float
        ``ell`` in domain units (parafields' ``corrLength``).
    embedding_factor : int
        parafields' ``embedding_factor``: the reference embedding has
        ``M_i = embedding_factor * N_i`` points per axis (default 2, as in
        parafields).
    match : {"parafields", "nominal"}
        ``"parafields"`` (default): the distribution parafields 1.0.3 actually
        samples for these settings -- the circulant spectrum of the reference
        embedding with the halved self-conjugate planes described in
        :func:`parafields_spectrum` (pointwise variance about ``0.975 V`` on
        the ConDiff grids, slightly anisotropic).  ``"nominal"``: exactly the
        covariance ``V rho(|d| / ell)``.
    embedding : {"auto", "factor"}
        ``"auto"`` (default): the smallest FFT-friendly ``(M_0, M_1)`` whose
        realised window covariance equals the target (that of ``match``) at
        every lag to ``tol * V``, with nonnegative spectrum -- the same
        distribution with fewer random numbers and smaller FFTs (falls back
        to the reference embedding if nothing smaller qualifies).
        ``"factor"``: FFTs on the reference embedding itself.
    threshold : float
        Eigenvalues ``lambda / (M_0 M_1) < -threshold * V`` of the reference
        embedding raise :class:`NegativeEigenvalueError` (parafields: absolute
        1e-14 with ``approximate=False``); smaller negative ones are clipped.
        (With ``match="nominal", embedding="auto"`` a failing reference
        embedding is not an error; auto then searches up to ``8 N_i``.)
    tol : float
        Acceptance tolerance (relative to ``V``) for ``embedding="auto"``.
    chunk_pairs : int
        Field pairs per FFT call inside :meth:`sample` (memory / speed only;
        results do not depend on it).
    workers : int
        ``scipy.fft`` worker threads.

    Attributes
    ----------
    embedding_shape : (M_0, M_1) used for sampling
    min_eigenvalue : float
        Smallest normalised eigenvalue ``lambda / (M_0 M_1)`` of the
        reference embedding, before clipping.
    max_covariance_error : float
        ``max |realised - target|`` over the window lags, where the target is
        the parafields-realised covariance (``match="parafields"``) or the
        nominal one.  ~1e-15 means the target distribution is hit to
        rounding accuracy.

    Random-number consumption (the determinism contract)
    ----------------------------------------------------
    Fields come in pairs.  Pair ``p`` consumes the next ``2 M_0 M_1`` standard
    normals of ``rng`` (a single ``standard_normal`` stream in C order, read
    as interleaved real/imaginary parts of the complex noise); field ``2p``
    is the real part, field ``2p + 1`` the imaginary part.  Hence the i-th
    field drawn from a generator is the same whether fields are requested a
    few at a time or all at once -- provided every batch size is even.  An
    odd batch draws ``(batch + 1) / 2`` pairs and discards the last imaginary
    part, i.e. it consumes randomness as if ``batch + 1`` fields were drawn.
    The stream depends on ``embedding_shape``, so "factor" and "auto" give
    different (equally distributed) fields for the same generator state.
    """

    def __init__(
        self,
        cells: Tuple[int, int],
        extensions: Tuple[float, float] = (1.0, 1.0),
        covariance: str = "exponential",
        variance: float = 1.0,
        corr_length: float = 0.05,
        embedding_factor: int = 2,
        *,
        match: str = "parafields",
        embedding: str = "auto",
        threshold: float = 1e-14,
        tol: float = 1e-14,
        chunk_pairs: int = 8,
        workers: int = 1,
    ):
        if len(cells) != 2 or len(extensions) != 2:
            raise ValueError("CirculantGRF is two-dimensional: give 2 cells and 2 extensions")
        if covariance not in COVARIANCES:
            raise ValueError(f"unknown covariance {covariance!r}; expected one of {COVARIANCES}")
        if not variance > 0 or not corr_length > 0:
            raise ValueError("variance and corr_length must be positive")
        if match not in ("parafields", "nominal"):
            raise ValueError("match must be 'parafields' or 'nominal'")
        if embedding not in ("factor", "auto"):
            raise ValueError("embedding must be 'factor' or 'auto'")
        f = int(embedding_factor)
        if f != embedding_factor or f < 1:
            raise ValueError("embedding_factor must be a positive integer")
        self.cells = tuple(int(c) for c in cells)
        if min(self.cells) < 1:
            raise ValueError("cells must be positive")
        self.extensions = tuple(float(e) for e in extensions)
        self.covariance = covariance
        self.variance = float(variance)
        self.corr_length = float(corr_length)
        self.embedding_factor = f
        self.match = match
        self.embedding = embedding
        self.h = tuple(L / N for L, N in zip(self.extensions, self.cells))
        self.threshold = float(threshold)
        self.tol = float(tol)
        self.chunk_pairs = max(1, int(chunk_pairs))
        self.workers = int(workers)
        n0, n1 = self.cells

        # Reference embedding, exactly as parafields builds it.
        ref_shape = (f * n0, f * n1)
        x0 = _lag_coordinates(ref_shape[0], self.h[0], f * self.extensions[0])
        x1 = _lag_coordinates(ref_shape[1], self.h[1], f * self.extensions[1])
        col = covariance_at(
            covariance, self.variance, self.corr_length, x0[:, None], x1[None, :]
        )
        lam = self._eigenvalues(col)
        self.min_eigenvalue = float(lam.min())
        ref_ok = self.min_eigenvalue >= -self.threshold * self.variance
        if not ref_ok and not (match == "nominal" and embedding == "auto"):
            raise NegativeEigenvalueError(
                f"circulant embedding {ref_shape} has eigenvalue "
                f"{self.min_eigenvalue:.3e} < -{self.threshold:g} * variance "
                "(parafields would raise NegativeEigenvalueError); increase "
                "embedding_factor"
                + ("" if match == "parafields" else " or use embedding='auto'")
            )
        np.maximum(lam, 0.0, out=lam)
        if match == "parafields":
            lam = parafields_spectrum(lam)
            table = self._covariance_from_spectrum(lam)  # lags mod ref_shape

            def target(d0, d1):
                return table[d0 % ref_shape[0], d1 % ref_shape[1]]

            max_size = ref_shape
        else:

            def target(d0, d1):
                return covariance_at(
                    covariance, self.variance, self.corr_length,
                    d0 * self.h[0], d1 * self.h[1],
                )

            max_size = (8 * n0, 8 * n1)
        self._target_fn = target
        self._target = target(np.arange(n0)[:, None], np.arange(n1)[None, :])

        if embedding == "factor":
            spectrum, shape = lam, ref_shape
        else:
            spectrum, shape = self._search(max_size, ref_shape if ref_ok else None, lam)
        self.embedding_shape = tuple(int(m) for m in shape)
        self._sqrt_lam = np.sqrt(spectrum)
        realised = self._covariance_from_spectrum(spectrum)[:n0, :n1]
        self.max_covariance_error = float(np.abs(realised - self._target).max())

    # -- set-up helpers -----------------------------------------------------
    def _eigenvalues(self, col: np.ndarray) -> np.ndarray:
        """Normalised eigenvalues ``FFT2(col) / (M_0 M_1)`` of a circulant."""
        return sfft.fft2(col, workers=self.workers).real / col.size

    def _covariance_from_spectrum(self, spectrum: np.ndarray) -> np.ndarray:
        """Circulant covariance ``c(d) = sum_k spectrum(k) e^{2 pi i k.d / M}``."""
        return sfft.ifft2(spectrum, workers=self.workers).real * spectrum.size

    def _search(self, max_size, ref_shape, ref_spectrum):
        """Smallest FFT-friendly embedding reproducing the target covariance."""
        n = self.cells
        tol = self.tol * self.variance
        cands = []
        for axis in (0, 1):
            sizes = {sfft.next_fast_len(m, real=False) for m in range(n[axis], max_size[axis] + 1)}
            sizes = sorted(m for m in sizes if m <= max_size[axis])
            # Necessary condition, checked per axis (lags along that axis):
            # folding must not change the target covariance inside the window.
            k = np.arange(n[axis])
            zero = np.zeros_like(k)
            ok = []
            for M in sizes:
                folded = np.minimum(k, M - k)
                args = (folded, zero) if axis == 0 else (zero, folded)
                ref = (k, zero) if axis == 0 else (zero, k)
                if np.abs(self._target_fn(*args) - self._target_fn(*ref)).max() <= tol:
                    ok.append(M)
            cands.append(ok)
        tried = set()
        for j in range(max(len(cands[0]), len(cands[1]))):
            shape = tuple(c[min(j, len(c) - 1)] for c in cands if c)
            if len(shape) != 2 or shape in tried:
                continue
            tried.add(shape)
            d0 = _folded_index(shape[0])
            d1 = _folded_index(shape[1])
            col = self._target_fn(d0[:, None], d1[None, :])
            lam = self._eigenvalues(col)
            if lam.min() < -self.threshold * self.variance:
                continue
            np.maximum(lam, 0.0, out=lam)
            real = self._covariance_from_spectrum(lam)[: n[0], : n[1]]
            if np.abs(real - self._target).max() <= tol:
                return lam, shape
        if ref_shape is not None:
            return ref_spectrum, ref_shape
        raise NegativeEigenvalueError(
            "no circulant embedding up to 8x the grid reproduces the "
            f"covariance to tol={self.tol:g}"
        )

    # -- sampling ---------------------------------------------------------
    def _pairs(self, rng: np.random.Generator, n_pairs: int) -> np.ndarray:
        """Complex window values of ``n_pairs`` pairs, shape (P, N_0, N_1)."""
        M0, M1 = self.embedding_shape
        n0, n1 = self.cells
        buf = np.empty((n_pairs, M0, M1, 2), dtype=np.float64)
        rng.standard_normal(out=buf)
        z = buf.view(np.complex128).reshape(n_pairs, M0, M1)
        z *= self._sqrt_lam
        # 2-D FFT as two 1-D passes, dropping rows outside the window in between.
        z = sfft.fft(z, axis=-2, overwrite_x=True, workers=self.workers)[:, :n0, :]
        z = sfft.fft(z, axis=-1, overwrite_x=True, workers=self.workers)[:, :, :n1]
        return z

    def sample(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        """Draw ``batch`` independent fields, shape ``(batch, N_0, N_1)``.

        Deterministic given the state of ``rng``; see the class docstring for
        exactly how random numbers are consumed.
        """
        batch = int(batch)
        if batch < 0:
            raise ValueError("batch must be non-negative")
        n0, n1 = self.cells
        out = np.empty((batch, n0, n1), dtype=np.float64)
        n_pairs = (batch + 1) // 2
        done = 0
        while done < n_pairs:
            p = min(self.chunk_pairs, n_pairs - done)
            z = self._pairs(rng, p)
            i = 2 * done
            re = out[i : i + 2 * p : 2]
            re[...] = z.real
            im = out[i + 1 : i + 2 * p : 2]
            im[...] = z.imag[: im.shape[0]]
            done += p
        return out

    def realised_covariance(self) -> np.ndarray:
        """Covariance the sampler produces at window lags, shape (N_0, N_1).

        Entry ``[k_0, k_1]`` is ``Cov(g(x), g(x + (k_0 h_0, k_1 h_1)))``.
        """
        spectrum = self._sqrt_lam**2
        return self._covariance_from_spectrum(spectrum)[: self.cells[0], : self.cells[1]]

    def target_covariance(self) -> np.ndarray:
        """Target covariance at window lags (that of ``match``), (N_0, N_1)."""
        return self._target.copy()

    def nominal_covariance(self) -> np.ndarray:
        """``V rho(|(k_0 h_0, k_1 h_1)| / ell)`` at window lags, (N_0, N_1)."""
        k0 = np.arange(self.cells[0]) * self.h[0]
        k1 = np.arange(self.cells[1]) * self.h[1]
        return covariance_at(
            self.covariance, self.variance, self.corr_length, k0[:, None], k1[None, :]
        )


# --------------------------------------------------------------------------
# rejection step
# --------------------------------------------------------------------------
def contrast(g) -> Union[float, np.ndarray]:
    """Contrast ``exp(max g - min g)`` of ``k = exp(g)`` over the last two axes.

    Vectorised: an array of shape ``(..., N_0, N_1)`` gives shape ``(...)``
    (a numpy scalar for a single field).  Overflows to ``inf`` silently.
    """
    g = np.asarray(g, dtype=np.float64)
    if g.ndim < 2:
        raise ValueError("contrast needs at least a 2-D field")
    spread = g.max(axis=(-2, -1)) - g.min(axis=(-2, -1))
    with np.errstate(over="ignore"):
        return np.exp(spread)


def first_accepted(fields, lo: float, hi: float) -> Optional[int]:
    """Index of the first field whose contrast lies in ``[lo, hi]``, or None.

    ``fields`` has shape ``(batch, N_0, N_1)`` (or is a sequence of fields).
    """
    c = np.atleast_1d(contrast(fields))
    idx = np.flatnonzero((c >= lo) & (c <= hi))
    return int(idx[0]) if idx.size else None
