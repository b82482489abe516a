"""PDE families. A family's module is imported when the family is first asked for
(:func:`get_family`), so generating ConDiff never imports torch for Navier–Stokes and the
dolfinx environment can import single backend modules."""

from pdeforge.generators.base import FAMILIES, FAMILY_MODULES, get_family  # noqa: F401
