"""The error of the predictions contract (a :class:`pdeforge.errors.PdeforgeError`, so the CLI
prints it without a traceback and exits with status 2)."""

from __future__ import annotations

from pdeforge.errors import PdeforgeError

__all__ = ["SubmissionError"]


class SubmissionError(PdeforgeError):
    """A predictions file that cannot be scored; the message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")
