"""An export file read as untrusted input: every field checked, whatever its checksum says.

A record's checksum is a plain SHA-256 of its content: it catches accidents, not
edits, since anyone can recompute it. So each field a command reads is checked
here against what an export may hold, and the first that breaks a rule is named
in one line with the file, the rule and the value (docs/guide.md, "Forecasting"). YAML
is read without aliases (a few hundred bytes of nested aliases expand to
gigabytes), and no export file is read past :data:`MAX_EXPORT_BYTES`.
"""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Callable
from pathlib import Path

import yaml

from tuner._checks import STUDY_NAME_PATTERN, require_path
from tuner.exceptions import ConfigError

__all__ = ["KIND", "MAX_EXPORT_BYTES", "VERSION", "check_export", "read_export_text", "safe_yaml"]

KIND = "lstm-tuner export"
VERSION = 3
"""3 added the ``series`` block; 2 had only the configurations."""
MAX_EXPORT_BYTES = 64 * 1024 * 1024
"""An export of 100 configurations and a series of a million observations is a few
tens of megabytes; anything larger is not one."""
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def read_export_text(path: str | Path) -> str:
    """The text of an export file, refused past :data:`MAX_EXPORT_BYTES` or not UTF-8.

    Raises:
        ConfigError: The path is no path, or the file is missing, unreadable, too
            large or not UTF-8.
    """
    require_path("export file", path)
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_EXPORT_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"cannot read export file {str(path)!r}: {error.strerror}") from None
    if len(data) > MAX_EXPORT_BYTES:
        raise ConfigError(
            f"export file {str(path)!r} is larger than {MAX_EXPORT_BYTES // 2**20} MiB; "
            "an export is not"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"export file {str(path)!r} is not UTF-8 text") from None


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing aliases: no export writes one."""

    def compose_node(self, parent: object, index: object) -> object:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("aliases are not allowed in an export")
        return super().compose_node(parent, index)  # type: ignore[arg-type]


def safe_yaml(text: str) -> object:
    """Parse YAML text without aliases.

    Raises:
        yaml.YAMLError: Not YAML, or it holds an alias.
    """
    return yaml.load(text, Loader=_NoAliasLoader)


def check_export(document: dict, path: str | Path) -> None:
    """Check every field of an export document that a command reads.

    Raises:
        ConfigError: The first field that breaks a rule, named with the file.
    """
    where = str(path)
    _check(where, "version", document.get("version"), _is_int(1, VERSION), f"1 to {VERSION}")
    _check(
        where,
        "study",
        document.get("study"),
        lambda v: isinstance(v, str) and bool(STUDY_NAME_PATTERN.fullmatch(v)),
        "a study name (letters, digits, '-', '_', '.')",
    )
    ranks = []
    for index, record in enumerate(document["configurations"]):
        field = f"configurations[{index}]"
        _check(where, field, record, lambda v: isinstance(v, dict), "a table")
        _check_record(where, field, record)
        ranks.append(record["rank"])
    if len(set(ranks)) != len(ranks):
        raise ConfigError(f"{where}: configurations: each rank must appear once; got {ranks}")
    if "series" in document:
        _check_series(where, document["series"])


def _check_record(where: str, field: str, record: dict) -> None:
    _check(where, f"{field}.rank", record.get("rank"), _is_int(1, None), "an integer >= 1")
    _check_run(where, field, record)
    residuals = record.get("residuals")
    if residuals is not None:
        _check(
            where,
            f"{field}.residuals",
            residuals,
            _is_matrix,
            "a non-empty list of equally long lists of finite numbers",
        )
    holdout = record.get("holdout")
    if holdout is not None:
        _check(where, f"{field}.holdout", holdout, lambda v: isinstance(v, dict), "a table")
        _check_run(where, f"{field}.holdout", holdout)


def _check_run(where: str, field: str, run: dict) -> None:
    """A scored run's configuration and fingerprint (the search's, or the holdout's)."""
    _check(where, f"{field}.config", run.get("config"), lambda v: isinstance(v, dict), "a table")
    _check(
        where,
        f"{field}.data_fingerprint",
        run.get("data_fingerprint"),
        lambda v: isinstance(v, str) and bool(_FINGERPRINT.fullmatch(v)),
        "64 lowercase hexadecimal digits",
    )


def _check_series(where: str, series: object) -> None:
    _check(where, "series", series, lambda v: isinstance(v, dict), "a table")
    series = typing.cast(dict, series)
    _check(where, "series.name", series.get("name"), lambda v: isinstance(v, str), "a string")
    dates, values = series.get("dates"), series.get("values")
    _check(
        where,
        "series.dates",
        dates,
        lambda v: isinstance(v, list) and all(isinstance(d, str) for d in v),
        "a list of date strings",
    )
    _check(
        where,
        "series.values",
        values,
        lambda v: isinstance(v, list) and len(v) == len(dates) and all(map(_is_finite, v)),
        f"a list of {len(dates)} finite numbers, one per date",
    )


def _check(
    where: str, field: str, value: object, rule: Callable[[object], bool], allowed: str
) -> None:
    if not rule(value):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise ConfigError(f"{where}: {field} must be {allowed}; got {shown}")


def _is_int(low: int, high: int | None) -> Callable[[object], bool]:
    def rule(value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        return low <= value and (high is None or value <= high)

    return rule


def _is_finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_matrix(value: object) -> bool:
    if not isinstance(value, list) or not value:
        return False
    rows = [row for row in value if isinstance(row, list) and row and all(map(_is_finite, row))]
    return len(rows) == len(value) and len({len(row) for row in rows}) == 1
