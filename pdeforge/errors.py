"""Exceptions with messages a user can act on.

Every error raised for bad user input derives from :class:`PdeforgeError`; the command line
prints its message without a traceback and exits with status 2.
"""

from __future__ import annotations

from collections.abc import Iterable


class PdeforgeError(Exception):
    """Base class for errors caused by input (names, values, files), not by bugs."""


class UnknownNameError(PdeforgeError, KeyError, ValueError):
    """A name (dataset, config, parameter, model, metric …) that is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        self.kind, self.name, self.known = kind, name, sorted(known)
        super().__init__(f"unknown {kind} {name!r}; known {kind}s: {', '.join(self.known) or '(none)'}")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


class InvalidValueError(PdeforgeError, ValueError):
    """A value outside its allowed range or of the wrong type."""


class StoreError(PdeforgeError):
    """A problem with files on disk: unwritable root, settings clash with existing data."""


class CorruptFileError(PdeforgeError):
    """A shard or manifest that is truncated, altered, or does not follow the format spec."""

    def __init__(self, path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")
