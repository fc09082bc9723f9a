"""Argument checks shared by every settings class.

Each check raises :class:`~tuner.exceptions.ConfigError` naming the setting, the
rule and the value received, so a bad option and a bad study-file key read alike.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable

from tuner.exceptions import ConfigError


def require_int(name: str, value: object, minimum: int, maximum: int | None = None) -> None:
    """Raise ConfigError unless ``value`` is an int (not a bool) in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be an integer <= {maximum:,}; got {value:,}")


def require_float(name: str, value: object, minimum: float, maximum: float) -> None:
    """Raise ConfigError unless ``value`` is a finite number (not a bool) in ``[minimum, maximum]``.

    Integers pass, as TOML and JSON write ``1`` for ``1.0``; NaN and infinities
    never do, since no rate or bound means anything at them.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not minimum <= value <= maximum
    ):
        raise ConfigError(
            f"{name} must be a finite number in [{minimum:g}, {maximum:g}]; got {value!r}"
        )


def require_choice(name: str, value: object, allowed: Iterable[str]) -> None:
    """Raise ConfigError unless ``value`` is one of ``allowed`` (they are listed)."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


STUDY_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
"""Letters, digits, ``-``, ``_`` and ``.``, no leading dot, at most 100 characters.

Study names become file and directory names (reports, compose's study files),
so a name that could climb out of a directory (``../x``) or hide (``.x``) is refused.
"""


def require_study_name(name: str, value: object) -> None:
    """Raise ConfigError unless ``value`` is a safe study name (see ``STUDY_NAME_PATTERN``)."""
    if not isinstance(value, str) or not STUDY_NAME_PATTERN.fullmatch(value):
        raise ConfigError(
            f"{name} must be 1 to 100 letters, digits, '-', '_' or '.', not starting with "
            f"a dot; got {value!r}"
        )


def require_path(name: str, value: object) -> None:
    """Raise ConfigError unless ``value`` is a non-empty path (a string or ``os.PathLike``)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a file or directory path; got {value!r}")
