"""JAX's default PRNG (threefry2x32) in pure numpy, no JAX dependency.

Reproduces, bit for bit, the parts of ``jax.random`` (jax 0.4.28, default
``jax_threefry_partitionable=False``) that ConDiff-style scripts use to derive
integer seeds::

    key = jax.random.PRNGKey(seed)
    for _ in range(k):
        key, sub = jax.random.split(key)
        parafields_seed = int(sub[0])

Threefry-2x32 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
SC 2011) with 20 rounds: two 32-bit words ``(x0, x1)`` are encrypted under
the key ``(k0, k1)``.  Key schedule ``ks = (k0, k1, k0 ^ k1 ^ 0x1BD11BDA)``;
start with ``x0 += ks[0], x1 += ks[1]``; each round is
``x0 += x1; x1 = rotl(x1, R); x1 ^= x0`` with rotation constants
``R = 13, 15, 26, 6`` (rounds 1-4, 9-12, 17-20) and ``17, 29, 16, 24``
(rounds 5-8, 13-16); after round ``4 s`` (``s = 1 .. 5``) the key is
injected: ``x0 += ks[s % 3]; x1 += ks[(s + 1) % 3] + s``.  All arithmetic is
modulo ``2**32``.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

__all__ = ["prng_key", "threefry2x32", "split", "KeyStream"]

_MASK32 = 0xFFFFFFFF
_PARITY = 0x1BD11BDA
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _u32(x) -> np.ndarray:
    """Values as a uint32 array (at least 1-d, so arithmetic wraps silently)."""
    a = np.asarray(x)
    if a.dtype != np.uint32:
        if a.dtype.kind not in "iub":
            raise TypeError(f"expected integer words, got dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() > _MASK32):
            raise ValueError("words must lie in [0, 2**32)")
        a = a.astype(np.uint32)
    return np.atleast_1d(a)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def prng_key(seed: int) -> np.ndarray:
    """``jax.random.PRNGKey(seed)`` as 2 uint32 words ``[seed >> 32, seed & 0xFFFFFFFF]``.

    E.g. ``prng_key(42) == [0, 42]``.  Accepts ``0 <= seed < 2**64`` (the
    range on which JAX with and without x64 agree wherever it accepts the
    seed); negative seeds are rejected because JAX maps them differently
    depending on ``jax_enable_x64``.
    """
    s = int(seed)
    if s != seed or not 0 <= s < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    return np.array([(s >> 32) & _MASK32, s & _MASK32], dtype=np.uint32)


def threefry2x32(key, x0, x1):
    """Threefry-2x32 (20 rounds) of counter words ``(x0, x1)`` under ``key``.

    ``key``: 2 uint32 words ``(k0, k1)``; ``x0``, ``x1``: uint32 arrays (or
    ints) of a common broadcast shape.  Returns ``(y0, y1)`` uint32 arrays of
    that shape.
    """
    k = _u32(key).reshape(-1)
    if k.shape != (2,):
        raise ValueError("key must have exactly 2 words")
    a0, a1 = np.broadcast_arrays(np.asarray(x0), np.asarray(x1))
    shape = a0.shape
    v0 = _u32(a0).reshape(-1).copy()
    v1 = _u32(a1).reshape(-1).copy()
    ks = (k[0], k[1], k[0] ^ k[1] ^ np.uint32(_PARITY))
    v0 += ks[0]
    v1 += ks[1]
    for s in range(1, 6):
        for r in _ROTATIONS[(s - 1) % 2]:
            v0 += v1
            v1 = _rotl(v1, r)
            v1 ^= v0
        v0 += ks[s % 3]
        v1 += ks[(s + 1) % 3]
        v1 += np.uint32(s)
    return v0.reshape(shape), v1.reshape(shape)


def split(key, num: int = 2) -> np.ndarray:
    """``jax.random.split(key, num)`` (original, non-partitionable scheme).

    ``counts = arange(2 num)`` (uint32); the first half are the ``x0`` words,
    the second half the ``x1`` words; ``(y0, y1) = threefry2x32(key, x0, x1)``
    and the new keys are ``concatenate([y0, y1]).reshape(num, 2)``.
    """
    num = int(num)
    if num < 0:
        raise ValueError("num must be non-negative")
    counts = np.arange(2 * num, dtype=np.uint32)
    y0, y1 = threefry2x32(key, counts[:num], counts[num:])
    return np.concatenate([y0, y1]).reshape(num, 2)


class KeyStream:
    """Iterator of parafields seeds derived JAX-style from one integer seed.

    Starting from ``key = prng_key(seed)``, each step does
    ``key, sub = split(key)`` and yields ``int(sub[0])`` (in ``[0, 2**32)``).
    From seed 42 the stream starts 255383827, 3923418436, 1371681402, ...
    """

    def __init__(self, seed: int):
        self.seed = seed
        self.key = prng_key(seed)

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        new = split(self.key, 2)
        self.key, sub = new[0], new[1]
        return int(sub[0])

    def take(self, n: int) -> list:
        """The next ``n`` seeds as a list."""
        return [next(self) for _ in range(int(n))]
