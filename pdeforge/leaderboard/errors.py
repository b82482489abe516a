"""Errors of the leaderboard area (all :class:`pdeforge.errors.PdeforgeError`, so the CLI
prints them without a traceback and exits with status 2)."""

from __future__ import annotations

from pdeforge.contracts.errors import SubmissionError
from pdeforge.errors import PdeforgeError

# SubmissionError (a predictions file that cannot be scored) belongs to the predictions
# contract: import it from pdeforge.contracts.errors.
__all__ = ["MetadataError", "ClaimsError", "BoardError", "NotSupportedError"]


class MetadataError(SubmissionError):
    """A submission metadata TOML file with missing, unknown or ill-typed fields."""


class ClaimsError(PdeforgeError):
    """A claims TOML file that cannot be read (malformed, missing fields, bad types)."""


class BoardError(PdeforgeError):
    """A leaderboard directory or entry that is missing, incomplete or altered."""


class NotSupportedError(PdeforgeError):
    """A requested feature that pdeforge does not provide (yet)."""
