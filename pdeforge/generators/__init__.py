"""PDE families and their numerics. Module ``G`` defines the family of the cards whose
``dataset.generator`` is ``G`` (the contract: :mod:`pdeforge.datasets.family`); it is imported
when the family is first asked for, so generating ConDiff never imports torch for
Navier–Stokes and the dolfinx environment can import single backend modules."""
