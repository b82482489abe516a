"""Contracts shared by the trainer (``pdeforge.baselines``) and the board (``pdeforge.leaderboard``).

Both sides import this package; it imports neither (only ``pdeforge.datasets`` below it and
the project-wide ``pdeforge.errors`` / ``pdeforge.registry`` / ``pdeforge.atomic``), so there
is no import cycle between training and scoring:

* :mod:`pdeforge.contracts.metrics` -- the metric registry with the pinned definitions;
* :mod:`pdeforge.contracts.predictions` -- the ``pdeforge-predictions/1`` file format: spec,
  writer and validation against the generated test split;
* :mod:`pdeforge.contracts.training` -- the ``[training]`` table of a submission (which
  ``TrainConfig`` fields it records, and writing it as TOML);
* :mod:`pdeforge.contracts.errors` -- :class:`SubmissionError`, raised by the predictions
  checks.

Dependency direction: ``baselines -> contracts``, ``leaderboard -> contracts``, and
``leaderboard -> baselines`` (``reproduce --retrain`` runs the trainer); never
``baselines -> leaderboard``.
"""
