"""``python -m pdeforge …`` is the ``pdeforge`` command (and what ``torchrun -m pdeforge train …`` runs)."""

import sys

from pdeforge.cli import main

if __name__ == "__main__":
    sys.exit(main())
