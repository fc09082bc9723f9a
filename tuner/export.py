"""Exporting a study's best configurations, and reading them back to re-run them.

An export holds, for each of the best K complete trials, everything needed to
re-run it (the full evaluation settings, seed included), its scores, the data
fingerprint and the library versions, but never the database URL. Each record
carries a checksum of its own content, so an edited or damaged file is refused
rather than re-run as something it no longer describes.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import optuna
import tomli_w
import yaml

from tuner.exceptions import ConfigError, StorageError
from tuner.runner import EvaluationConfig
from tuner.study import complete_trials

__all__ = ["FORMATS", "dump_export", "export_best", "load_export", "pick_configuration"]

FORMATS = ("json", "yaml", "toml")
KIND = "lstm-tuner export"
VERSION = 1


def export_best(study: optuna.Study, top: int) -> dict[str, object]:
    """The best ``top`` complete trials of ``study`` as an export document.

    Raises:
        StorageError: The study has no complete trial.
    """
    best = complete_trials(study)[:top]
    if not best:
        raise StorageError(f"study {study.study_name!r} has no complete trial to export yet")
    return {
        "kind": KIND,
        "version": VERSION,
        "study": study.study_name,
        "configurations": [_record(rank, trial) for rank, trial in enumerate(best, start=1)],
    }


def _record(rank: int, trial: optuna.trial.FrozenTrial) -> dict[str, object]:
    attrs = trial.user_attrs
    missing = sorted({"config", "data_fingerprint", "rmses", "std", "skill"} - set(attrs))
    if missing:
        raise StorageError(
            f"trial {trial.number} lacks {', '.join(missing)}: it was run by an older "
            "lstm-tuner; rerun the study to export it"
        )
    record = {
        "rank": rank,
        "trial": trial.number,
        "mean_rmse": trial.value,
        "std_rmse": attrs["std"],
        "repeats": len(attrs["rmses"]),
        "skill": attrs["skill"],
        "persistence_rmse": attrs["persistence_rmse"],
        "engine": attrs["engine"],
        "versions": attrs["versions"],
        "data_fingerprint": attrs["data_fingerprint"],
        "config": _without_none(attrs["config"]),
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

    Raises:
        ConfigError: The file is missing, unreadable, not an export, or a record
            was edited or damaged (its checksum no longer matches).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read export file {str(path)!r}: {error}") from None
    document = _parse(text)
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise ConfigError(f"{path} is not an lstm-tuner export (no kind = {KIND!r})")
    records = document.get("configurations")
    if not isinstance(records, list) or not records:
        raise ConfigError(f"{path} holds no configurations")
    for record in records:
        if not isinstance(record, dict) or record.get("checksum") != _checksum(
            {k: v for k, v in record.items() if k != "checksum"}
        ):
            rank = record.get("rank", "?") if isinstance(record, dict) else "?"
            raise ConfigError(
                f"{path}: configuration of rank {rank} was edited or damaged (checksum mismatch); "
                "export it again with 'tuner export'"
            )
    return document


def pick_configuration(
    document: dict[str, object], rank: int, repeats: int | None
) -> tuple[EvaluationConfig, dict[str, object]]:
    """The configuration of ``rank`` (1 = best), with ``repeats`` overridden if given.

    Raises:
        ConfigError: No configuration has that rank, or its settings are invalid.
    """
    records = {record["rank"]: record for record in document["configurations"]}
    if rank not in records:
        raise ConfigError(f"rank must be one of {', '.join(map(str, records))}; got {rank}")
    record = records[rank]
    settings = dict(record["config"])
    if repeats is not None:
        settings["repeats"] = repeats
    return EvaluationConfig.from_dict(settings), record


def _parse(text: str) -> object:
    for parse in (json.loads, tomllib.loads, yaml.safe_load):
        try:
            return parse(text)
        except (ValueError, yaml.YAMLError):
            continue
    raise ConfigError("the export file is neither JSON, TOML nor YAML")


def _checksum(record: dict[str, object]) -> str:
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _without_none(settings: dict[str, object]) -> dict[str, object]:
    """TOML has no null: drop ``None`` values (an absent setting means its default)."""
    return {key: value for key, value in settings.items() if value is not None}
