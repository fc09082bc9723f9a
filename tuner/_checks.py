"""Argument checks shared by every settings class.

Each check raises :class:`~tuner.exceptions.ConfigError` naming the setting, the
rule and the value received, so a bad option and a bad study-file key read alike.
"""

from __future__ import annotations

from collections.abc import Iterable

from tuner.exceptions import ConfigError


def require_int(name: str, value: object, minimum: int) -> None:
    """Raise ConfigError unless ``value`` is an int (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}; got {value!r}")


def require_choice(name: str, value: object, allowed: Iterable[str]) -> None:
    """Raise ConfigError unless ``value`` is one of ``allowed`` (they are listed)."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
