"""Tuning from a DataFrame in one call: what a notebook user holds, not a study file.

neuralforecast, statsforecast and Darts take the series itself; so does
:func:`tune`. It writes what ``tuner init`` would for the series (the series as a
CSV and a checked study file, with the space given or the drafted one) into a
folder of its own, then runs the study as ``tuner run`` does and returns it
(docs/api.md). The files make the study reproducible from the command line and
let its workers, which are separate processes, read the series.
"""

from __future__ import annotations

import tomllib
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import tomli_w

from tuner._checks import require_int, require_study_name
from tuner.api import Storage, TunedPanel, TunedStudy, run_study
from tuner.data.frames import ID, csv_text, one_series, panel_csv_text, panel_ids_of
from tuner.data.series import PanelKey
from tuner.data.source import DataSource
from tuner.exceptions import ConfigError, TunerError
from tuner.search.starter import check_study, draft, study_name_from

__all__ = ["DEFAULT_FOLDER", "tune"]

DEFAULT_FOLDER = Path("storage") / "studies"
"""Where :func:`tune` writes each study's CSV and study file, beside the default database."""


def tune(
    data: object,
    space: Mapping[str, object] | None = None,
    trials: int | None = None,
    *,
    name: str | None = None,
    settings: Mapping[str, object] | None = None,
    workers: int = 1,
    storage: Storage = None,
    folder: str | Path = DEFAULT_FOLDER,
    save_artifacts: bool = True,
    on_trials: Callable[[int, int], None] | None = None,
) -> TunedStudy | TunedPanel:
    """Tune an LSTM for a series, or for each of a panel's, and confirm the best on the holdout.

    Args:
        data: A pandas Series indexed by dates, periods or whole numbers, or a long
            DataFrame with the columns ``unique_id``, ``ds`` and ``y``: one series,
            or a panel of many, each tuned in its own study (a series too short for
            the study file is skipped with a warning; docs/guide.md, "Panels").
        space: The ``[search]`` table of a study file as a dict (docs/study-file.md),
            for example ``{"epochs": {"low": 50, "high": 500}, "neurons": [1, 2, 4]}``;
            ``None``: the space ``tuner init`` drafts for the series.
        trials: The study's budget of finished trials (default: the drafted 40).
        name: The study's name (default: the series' ``unique_id`` or name, else
            ``series``); the forecasts' ``unique_id``.
        settings: Any other study-file keys, nested as in the file, for example
            ``{"repeats": 3, "data": {"horizon": 6, "origins": 3}}``.
        workers: Local worker processes.
        storage: Database URL (default: ``$TUNER_STORAGE``, then
            ``sqlite:///storage/tuner.db``).
        folder: Where the study's CSV and study file are written.
        save_artifacts: ``False`` saves no plots for the dashboard.
        on_trials: Called with (finished trials, budget) about once a second.

    Returns:
        The study, as :func:`tuner.open_study` gives it: ``best()``, ``trials()``,
        ``forecast()``...; for a panel, the panel: ``status()``, ``studies()``,
        ``forecast()``.

    Raises:
        ConfigError: ``data`` is not one series, a setting breaks its rule, or
            ``folder`` already holds a study of that name with other data or settings.
        DataError: The series cannot be read faithfully (irregular dates, gaps).
        StorageError: The database cannot be used.
        TunerError: A worker exited with an error.
    """
    require_int("workers", workers, 1)
    ids = panel_ids_of(data)
    if ids:
        identity, text_of_data, first = None, panel_csv_text(data), PanelKey(ID, ids[0])
    else:
        identity, series = one_series(data)
        text_of_data, first = csv_text(series), None
    study_name = name if name is not None else study_name_from(identity or "series")
    require_study_name("name", study_name)
    folder = Path(folder)
    csv, study_file = folder / f"{study_name}.csv", folder / f"{study_name}.toml"
    written = _write_once(csv, text_of_data, study_name)
    try:  # the study file is checked before it is written: the series must be there first
        drafted = draft(DataSource(str(csv), panel=first), study_file, study_name)
        text = _with_overrides(drafted.text, space, settings)
        check_study(text, study_file, str(csv))  # as `tuner create` will, before anything runs
    except TunerError:
        if written:  # a refused call leaves nothing behind to refuse the next one
            csv.unlink()
        raise
    _write_once(study_file, text, study_name)
    study, status = run_study(
        study_file,
        workers,
        trials,
        storage,
        save_artifacts=save_artifacts,
        on_trials=on_trials,
        on_skip=_warn_skipped,
    )
    if status != 0:
        raise TunerError(f"study {study_name!r}: a worker exited with status {status}")
    return study


def _warn_skipped(unique_id: str, reason: str) -> None:
    """A panel's series that cannot be tuned: a warning, as a notebook shows one."""
    warnings.warn(f"series {unique_id!r} skipped: {reason}", UserWarning, stacklevel=4)


def _with_overrides(
    text: str, space: Mapping[str, object] | None, settings: Mapping[str, object] | None
) -> str:
    """The drafted study file with ``space`` as its search and ``settings`` merged in.

    The draft's comments explain its choices; a file rewritten with the caller's
    keys holds the caller's choices, so it is written without them.
    """
    if space is None and not settings:
        return text
    merged = _merged(tomllib.loads(text), settings or {})
    if space is not None:
        merged["search"] = dict(space)
    try:
        return tomli_w.dumps(merged)
    except TypeError as error:
        raise ConfigError(f"space and settings must hold TOML values: {error}") from None


def _merged(base: dict[str, object], extra: Mapping[str, object]) -> dict[str, object]:
    """``base`` with ``extra``'s keys, tables merged key by key."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)  # type: ignore[arg-type]
        else:
            merged[key] = value
    return merged


def _write_once(path: Path, text: str, name: str) -> bool:
    """Write ``text`` at ``path`` unless it is there already; return whether it was written.

    Other content there is refused. A study's files are its identity: tuning the
    same series with the same settings again resumes the study, while other data
    under the same name would silently change what its trials were scored on.
    """
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except FileNotFoundError:
        pass
    except OSError as error:
        raise ConfigError(f"cannot read {str(path)!r}: {error.strerror}") from None
    else:
        raise ConfigError(
            f"{path} holds another series or settings for study {name!r}; give another name"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot write {str(path)!r}: {error.strerror}") from None
    return True
