"""PDE families. Importing this package registers every shipped family in ``FAMILIES``."""

from pdeforge.generators.base import FAMILIES, get_family  # noqa: F401
from pdeforge.generators import condiff  # noqa: F401  (registers "condiff")
from pdeforge.generators import darcy  # noqa: F401  (registers "darcy")
