"""Errors of the leaderboard area (all :class:`pdeforge.errors.PdeforgeError`, so the CLI
prints them without a traceback and exits with status 2)."""

from __future__ import annotations

from pdeforge.errors import PdeforgeError

__all__ = ["SubmissionError", "MetadataError", "ClaimsError", "BoardError", "NotSupportedError"]


class SubmissionError(PdeforgeError):
    """A predictions file that cannot be scored; the message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


class MetadataError(SubmissionError):
    """A submission metadata TOML file with missing, unknown or ill-typed fields."""


class ClaimsError(PdeforgeError):
    """A claims TOML file that cannot be read (malformed, missing fields, bad types)."""


class BoardError(PdeforgeError):
    """A leaderboard directory or entry that is missing, incomplete or altered."""


class NotSupportedError(PdeforgeError):
    """A requested feature that pdeforge does not provide (yet)."""
