"""The dolfinx environment seen from pdeforge's own interpreter: where it is, whether it works,
how to run a script in it.

DOLFINx 0.5.2 comes from Debian (``python3-dolfinx``) and lives in its own virtual environment,
``.venv-dolfinx`` (``make dolfinx``; override with ``$PDEFORGE_DOLFINX_PYTHON``), because its
Debian build needs Debian's numpy and h5py. Backends that use it (Darcy's ``dolfinx_p1``, the
steady Navier–Stokes backend of the obstacle family) run a script of :mod:`pdeforge.generators.fem`
by path in that interpreter and exchange ``.npz`` files; this module is what they share.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

from pdeforge.errors import PdeforgeError

#: repository root of a source checkout (pdeforge/generators/fem/dolfinx_env.py → ../../..)
ROOT = Path(__file__).resolve().parents[3]
DOLFINX_ENV = "PDEFORGE_DOLFINX_PYTHON"


class BackendUnavailableError(PdeforgeError):
    """The backend's software is not installed (message says how to install it)."""


class BackendFailedError(RuntimeError):
    """A backend's external process failed; the message carries its command and stderr."""


def dolfinx_python() -> Path:
    """The interpreter of the dolfinx environment: ``$PDEFORGE_DOLFINX_PYTHON``, else
    ``<repository root>/.venv-dolfinx/bin/python`` (what ``make dolfinx`` builds)."""
    return Path(os.environ.get(DOLFINX_ENV) or ROOT / ".venv-dolfinx" / "bin" / "python")


def check_dolfinx(backend: str = "dolfinx_p1") -> None:
    """Raise :class:`BackendUnavailableError` (saying how to build it) when the interpreter is missing."""
    py = dolfinx_python()
    if not (py.is_file() and os.access(py, os.X_OK)):
        raise BackendUnavailableError(
            f"backend {backend!r} runs in the dolfinx environment, but its interpreter {py} does not "
            f"exist. Build it with `make dolfinx` in the repository (Debian: installs python3-dolfinx "
            f"0.5.2 into .venv-dolfinx), or set {DOLFINX_ENV} to a Python that imports dolfinx.")


def subprocess_env() -> dict[str, str]:
    """The caller's environment without this interpreter's package paths; one OpenMP thread."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_checked(cmd: list[str], what: str, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd``; a non-zero exit raises :class:`BackendFailedError` with the end of its stderr."""
    r = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, cwd=cwd)
    if r.returncode != 0:
        raise BackendFailedError(f"{what}: `{' '.join(cmd)}` exited with status {r.returncode}; "
                                 f"its stderr ends:\n{r.stderr[-4000:]}")
    return r


@functools.lru_cache(maxsize=4)
def dolfinx_version(py: str, what: str = "dolfinx") -> str:
    """``"dolfinx X, petsc4py Y"`` of interpreter ``py``."""
    code = "import dolfinx, petsc4py; print(dolfinx.__version__, petsc4py.__version__)"
    out = run_checked([py, "-c", code], what).stdout.strip().splitlines()
    words = out[-1].split() if out else []
    if len(words) != 2:
        raise BackendFailedError(f"{what}: cannot read the dolfinx/petsc4py versions from {py}: {out!r}")
    return f"dolfinx {words[0]}, petsc4py {words[1]}"


def dolfinx_status() -> str | None:
    """``None`` when the dolfinx environment imports dolfinx, else why not (for skipping tests)."""
    try:
        check_dolfinx()
        dolfinx_version(str(dolfinx_python()))
    except (BackendUnavailableError, BackendFailedError) as exc:
        return str(exc)
    return None
