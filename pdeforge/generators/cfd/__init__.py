"""CFD part 1 (CFDBench's cavity, tube, dam): a staggered-grid (MAC) incompressible
Navier–Stokes solver in physical units, validated in ``tests/cfd``.

* :mod:`.mac` — grid, operators, AB2/Crank–Nicolson incremental projection step;
* :mod:`.geometry` — domains and solid masks from physical parameters;
* :mod:`.solve` — :func:`solve_case` and the problem registry :data:`PROBLEMS`;
* :mod:`.reference` — Ghia, Ghia & Shin (1982) centreline tables.
"""

from .geometry import INLET_PROFILES, cavity_domain, dam_domain, tube_domain
from .mac import Domain, MACSolver, Side, stable_dt
from .solve import PROBLEMS, CaseResult, SolverDivergedError, make_solver, solve_case

__all__ = ["Domain", "Side", "MACSolver", "stable_dt", "INLET_PROFILES", "cavity_domain",
           "tube_domain", "dam_domain", "PROBLEMS", "CaseResult", "SolverDivergedError",
           "make_solver", "solve_case"]
