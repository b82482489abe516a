"""``key=value`` words of the command line (card overrides and run options), parsed once.

Every subcommand that takes ``key=value`` words (``generate``, ``plot``, ``train``, ``solve``)
uses :func:`parse_key_values`: a word without ``=``, an empty key, or a key given twice is
refused with a one-line :class:`~pdeforge.errors.InvalidValueError` (a repeated key would
otherwise silently let the last one win).
"""

from __future__ import annotations

from collections.abc import Iterable

from pdeforge.errors import InvalidValueError

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def parse_key_values(items: Iterable[str]) -> dict[str, str]:
    """``["grid=64", "n_train=8"]`` → ``{"grid": "64", "n_train": "8"}`` (order kept)."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise InvalidValueError(f"expected key=value, got {item!r}")
        key, value = (part.strip() for part in item.split("=", 1))
        if not key:
            raise InvalidValueError(f"expected key=value, got {item!r} (empty key)")
        if key in out:
            raise InvalidValueError(f"{key} given twice ({key}={out[key]} and {key}={value}); give it once")
        out[key] = value
    return out


def parse_bool(key: str, text: str) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case); anything else is refused."""
    word = str(text).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise InvalidValueError(f"{key}={text!r}: expected one of {', '.join(TRUE_WORDS + FALSE_WORDS)}")
