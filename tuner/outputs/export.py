"""Exporting a study's best configurations, and reading them back to re-run them.

An export holds, for each of the best K complete trials, everything needed to
re-run it (the full evaluation settings, seed included), its scores, the data
fingerprint and the library versions, but never the database URL. Each record
carries a checksum of its own content, so an edited or damaged file is refused
rather than re-run as something it no longer describes.

An export also records its whole series (dates and values, with a checksum of
their own), so that a forecast from it can accept the series grown since and
refuse one whose past changed, naming the first date that differs
(docs/guide.md, "Forecasting").
"""

from __future__ import annotations

import hashlib
import json
import logging
import tomllib
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import tomli_w
import yaml

from tuner._checks import require_int
from tuner.data.dates import date_label, read_dates
from tuner.data.series import Series
from tuner.evaluation.config import EvaluationConfig
from tuner.evaluation.metrics import skill
from tuner.exceptions import ConfigError, DataError, StorageError
from tuner.outputs.export_schema import KIND, VERSION, check_export, read_export_text, safe_yaml
from tuner.search import names
from tuner.search.findings import NO_HOLDOUT, objective_of, skill_reference
from tuner.search.records import study_attrs
from tuner.search.study import complete_trials, stored_config
from tuner.search.windows import study_series

__all__ = [
    "FORMATS",
    "dump_export",
    "export_best",
    "exported_residuals",
    "exported_series",
    "load_export",
    "new_observations",
    "pick_configuration",
]

logger = logging.getLogger(__name__)

FORMATS = ("json", "yaml", "toml")


def export_best(study: optuna.Study, top: int) -> dict[str, object]:
    """The best ``top`` complete trials of ``study`` as an export document.

    They are ranked by the study's ``objective``, which the document names; each
    record's ``validation_value`` (and its holdout's ``value``) is the score under
    it, with both scores beside.

    Raises:
        StorageError: The study has no complete trial.
    """
    best = complete_trials(study)[:top]
    if not best:
        raise StorageError(f"study {study.study_name!r} has no complete trial to export yet")
    attrs = study_attrs(study)
    reference = skill_reference(attrs)
    confirmed = {
        record["trial"]: record
        for record in (attrs.get(names.CONFIRMATION) or {}).get("configurations", [])
    }
    document = {
        "kind": KIND,
        "version": VERSION,
        "study": study.study_name,
        "windows": attrs.get(names.WINDOWS),
        "objective": objective_of(attrs),
        "note": None if attrs.get(names.HOLDOUT) else NO_HOLDOUT,
        "configurations": [
            _record(rank, trial, confirmed.get(trial.number), skill(trial.value, reference))
            for rank, trial in enumerate(best, start=1)
        ],
        "series": _series_record(study),
    }
    return _without_none(document)


def _series_record(study: optuna.Study) -> dict[str, object] | None:
    """The study's whole series: its name, dates and values, and their checksum.

    A series that cannot be loaded here (its file lives on another machine) is
    left out with a warning: the export still re-evaluates elsewhere, and
    ``tuner forecast`` says it needs an export with its series.
    """
    config = stored_config(study)
    try:
        series = study_series(config)
    except DataError as error:
        logger.warning("the export holds no series, so it cannot be forecast from: %s", error)
        return None
    record = {
        "name": series.name,
        "dates": [date_label(label) for label in series.index],
        "values": [float(value) for value in series.values],
    }
    return {**record, "checksum": _checksum(record)}


def exported_series(document: dict[str, object], path: str | Path) -> Series:
    """The series an export holds, rebuilt as loading its file would have read it.

    A forecast uses it where the exported CSV path does not exist (the export was
    copied to another machine or directory): the export holds the whole series.

    Raises:
        ConfigError: The export has no series (made by an older lstm-tuner).
    """
    record = document.get("series")
    if not isinstance(record, dict):
        raise _no_series(path)
    label = "date"
    index = read_dates(pd.Series(record["dates"], dtype=str), label, str(path), None)
    values = np.asarray(record["values"], dtype=np.float64)
    return Series(name=str(record["name"]), values=values, index=index, value_column="value")


def _no_series(path: str | Path) -> ConfigError:
    return ConfigError(
        f"{path}: the export has no series to check the data against (it was made by an "
        f"lstm-tuner before export version {VERSION}); export it again with 'tuner export'"
    )


def new_observations(document: dict[str, object], series: Series, path: str | Path) -> int:
    """How many observations ``series`` has beyond the exported one it must extend.

    A series that grew since the export (a new month arrived) is the usual case
    and is accepted; one whose past changed would refit a model on data its
    configuration was never chosen on, so it is refused.

    Raises:
        ConfigError: The export has no series (made by an older lstm-tuner).
        DataError: The series is shorter than the exported one, or an exported
            date or value differs (the first such date is named).
    """
    exported = document.get("series")
    if not isinstance(exported, dict):
        raise _no_series(path)
    dates, values = exported["dates"], exported["values"]
    current = [date_label(label) for label in series.index]
    for position, (date, value) in enumerate(zip(dates, values, strict=False)):
        if position >= len(current):
            break
        if current[position] != date or series.values[position] != value:
            raise DataError(
                f"{series.name}: the series' past changed since the export: the first differing "
                f"date is {date} (exported {date} = {value!r}; now {current[position]} = "
                f"{float(series.values[position])!r}); export again to forecast from it"
            )
    if len(current) < len(dates):
        raise DataError(
            f"{series.name}: has {len(current)} observations, ending {current[-1]}; the export "
            f"has {len(dates)}, ending {dates[-1]}; the series must extend the exported one"
        )
    return len(current) - len(dates)


def _holdout(confirmed: dict[str, object] | None) -> dict[str, object] | None:
    """A confirmed configuration's holdout scores, and what reproduces them."""
    if confirmed is None or confirmed.get("holdout_rmse") is None:
        return None
    return {
        "value": confirmed["holdout_rmse"],
        "mean_rmse": confirmed.get("holdout_mean_rmse", confirmed["holdout_rmse"]),
        "ensemble_rmse": confirmed.get("holdout_ensemble_rmse"),
        "std_rmse": confirmed["holdout_std"],
        "rmses": confirmed["holdout_rmses"],
        "metrics": confirmed.get("holdout_metrics"),
        "by_step": confirmed.get("holdout_by_step"),
        "coverage": confirmed.get("holdout_coverage"),
        "data_fingerprint": confirmed["holdout_fingerprint"],
        "config": confirmed["holdout_config"],
    }


def _record(
    rank: int,
    trial: optuna.trial.FrozenTrial,
    confirmed: dict[str, object] | None,
    skill_score: float | None,
) -> dict[str, object]:
    attrs = trial.user_attrs
    needed = {names.CONFIG, names.DATA_FINGERPRINT, names.RMSES, names.STD, names.SKILL}
    missing = sorted(needed - set(attrs))
    if missing:
        raise StorageError(
            f"trial {trial.number} lacks {', '.join(missing)}: it was run by an older "
            "lstm-tuner; rerun the study to export it"
        )
    record = {
        "rank": rank,
        "trial": trial.number,
        "holdout": _holdout(confirmed),
        "validation_value": trial.value,
        "validation_mean_rmse": attrs.get(names.MEAN_RMSE, trial.value),
        "validation_ensemble_rmse": attrs.get(names.ENSEMBLE_RMSE),
        "mean_rmse": attrs.get(names.MEAN_RMSE, trial.value),
        "validation_metrics": attrs.get(names.METRICS),
        "validation_by_step": attrs.get(names.BY_STEP),
        "residuals": attrs.get(names.RESIDUALS),
        "std_rmse": attrs[names.STD],
        "repeats": len(attrs[names.RMSES]),
        "skill": skill_score,
        "persistence_rmse": attrs[names.PERSISTENCE_RMSE],
        "engine": attrs[names.ENGINE],
        "versions": attrs[names.VERSIONS],
        "data_fingerprint": attrs[names.DATA_FINGERPRINT],
        "config": attrs[names.CONFIG],
    }
    record = _without_none(record)
    return {**record, "checksum": _checksum(record)}


def dump_export(document: dict[str, object], fmt: str) -> str:
    """Serialise an export document as JSON, YAML or TOML.

    Raises:
        ConfigError: ``fmt`` is not one of :data:`FORMATS`.
    """
    if fmt == "json":
        return json.dumps(document, indent=2) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(document, sort_keys=False)
    if fmt == "toml":
        return tomli_w.dumps(document)
    raise ConfigError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")


def load_export(path: str | Path) -> dict[str, object]:
    """Read an export file (its format told by its extension, else by trying each).

    Every field a command reads is then checked as untrusted input
    (:func:`tuner.outputs.export_schema.check_export`).

    Raises:
        ConfigError: The file is missing, unreadable, too large, not an export, a
            record was edited or damaged (its checksum no longer matches), or a
            field breaks its rule (the file and the field are named).
    """
    text = read_export_text(path)
    document = _parse(text, path)
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise ConfigError(f"{path} is not an lstm-tuner export (no kind = {KIND!r})")
    records = document.get("configurations")
    if not isinstance(records, list) or not records:
        raise ConfigError(f"{path} holds no configurations")
    for record in records:
        if not _intact(record):
            rank = record.get("rank", "?") if isinstance(record, dict) else "?"
            raise ConfigError(
                f"{path}: configuration of rank {rank} was edited or damaged (checksum mismatch); "
                "export it again with 'tuner export'"
            )
    if "series" in document and not _intact(document["series"]):
        raise ConfigError(
            f"{path}: the exported series was edited or damaged (checksum mismatch); "
            "export it again with 'tuner export'"
        )
    check_export(document, path)
    return document


def _intact(record: object) -> bool:
    """Whether ``record`` is a table whose checksum matches the rest of it."""
    return isinstance(record, dict) and record.get("checksum") == _checksum(
        {k: v for k, v in record.items() if k != "checksum"}
    )


def pick_configuration(
    document: dict[str, object], rank: int, repeats: int | None, holdout: bool = False
) -> tuple[EvaluationConfig, str]:
    """The configuration of ``rank`` (1 = best) and its data fingerprint.

    Args:
        document: An export document.
        rank: Which configuration.
        repeats: Overrides the stored number of repeats, if given.
        holdout: The configuration as confirmed on the holdout (the whole series,
            the holdout as test window, the confirmation's seed and repeats)
            instead of as the search scored it.

    Raises:
        ConfigError: No configuration has that rank, it was not confirmed on a
            holdout (with ``holdout``), or its settings are invalid.
    """
    require_int("rank", rank, 1)
    records = {record["rank"]: record for record in document["configurations"]}
    if rank not in records:
        raise ConfigError(f"rank must be one of {', '.join(map(str, records))}; got {rank}")
    record = records[rank]
    if holdout and "holdout" not in record:
        raise ConfigError(
            f"--holdout: the configuration of rank {rank} has no holdout score (its study has "
            "no holdout, or was not confirmed before the export)"
        )
    source = record["holdout"] if holdout else record
    settings = dict(source["config"])
    if repeats is not None:
        settings["repeats"] = repeats
    return EvaluationConfig.from_dict(settings), source["data_fingerprint"]


def exported_residuals(document: dict[str, object], rank: int) -> np.ndarray | None:
    """The validation residuals of the configuration of ``rank``, ``(origins, steps)``.

    ``None`` for an export made before residuals were stored (no intervals then).
    """
    record = next(r for r in document["configurations"] if r["rank"] == rank)  # type: ignore[union-attr]
    residuals = record.get("residuals")
    return None if residuals is None else np.array(residuals, dtype=np.float64)


def _parse(text: str, path: str | Path) -> object:
    for parse in (json.loads, tomllib.loads, safe_yaml):
        try:
            return parse(text)
        except (ValueError, RecursionError, yaml.YAMLError):
            continue
    raise ConfigError(f"export file {str(path)!r} is neither JSON, TOML nor YAML (without aliases)")


def _checksum(record: dict[str, object]) -> str:
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _without_none(settings: dict[str, object]) -> dict[str, object]:
    """TOML has no null: drop ``None`` values, in nested tables too (absent means default)."""
    return {
        key: _without_none(value) if isinstance(value, dict) else value
        for key, value in settings.items()
        if value is not None
    }
