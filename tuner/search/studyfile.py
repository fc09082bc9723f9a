"""Study files: a TOML description of a study, loaded into typed dataclasses.

A study file says which series to tune on, which hyperparameters to search and
how, how many trials to run and how workers behave. Loading validates every key
against the dataclasses below: an unknown key, a wrong type or an impossible
value is refused with the key's dotted path, the value and what is allowed. The
file's text is stored with the study, so a worker needs only the study's name.

Example (``studies/shampoo.toml``)::

    name = "shampoo"
    trials = 60
    repeats = 10

    [data]
    series = "shampoo"
    train_size = 20

    [search]
    epochs = { low = 100, high = 2000, log = true }
    neurons = { low = 1, high = 5 }
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tomllib
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuner._checks import (
    require_choice,
    require_float,
    require_int,
    require_path,
    require_study_name,
)
from tuner.engines import DEFAULT_ENGINE, ENGINES
from tuner.evaluation.metrics import DEFAULT_OBJECTIVE, OBJECTIVES
from tuner.exceptions import ConfigError
from tuner.method.limits import (
    MAX_EPOCHS,
    MAX_LAG,
    MAX_LAYERS,
    MAX_LEARNING_RATE,
    MAX_NEURONS,
    MAX_REPEATS,
    MAX_TRIALS_PER_GRAPH,
    MAX_UPDATE_EPOCHS,
    MIN_LEARNING_RATE,
)
from tuner.method.model import FRAMINGS
from tuner.method.regimes import REGIME_NAMES
from tuner.method.scoring import Scoring
from tuner.storage.url import DatabaseURL

__all__ = [
    "ConfirmSection",
    "DataSection",
    "FloatRange",
    "IntRange",
    "PrunerSection",
    "SamplerSection",
    "SearchSection",
    "StudyConfig",
    "WorkersSection",
    "load_study_file",
    "parse_study_text",
]

SAMPLERS = ("tpe", "grid")


@dataclass(frozen=True)
class IntRange:
    """An integer range searched by the sampler, ends included.

    Attributes:
        low: Smallest value.
        high: Largest value.
        log: Sample on a log scale (for epochs, say).
    """

    low: int
    high: int
    log: bool = False

    def validate(self, path: str, minimum: int, maximum: int) -> None:
        """Raise ConfigError unless ``minimum <= low <= high <= maximum``."""
        require_int(f"{path}.low", self.low, minimum)
        require_int(f"{path}.high", self.high, minimum, maximum)
        if self.high < self.low:
            raise ConfigError(f"{path}: high must be >= low; got low {self.low}, high {self.high}")


IntChoice = IntRange | list[int]
"""A search dimension: a range, or an explicit list of values."""


@dataclass(frozen=True)
class FloatRange:
    """A float range searched by the sampler on a log scale, ends included.

    Always log: the only float dimension is the learning rate, whose useful values
    span orders of magnitude.

    Attributes:
        low: Smallest value.
        high: Largest value.
    """

    low: float
    high: float

    def validate(self, path: str, minimum: float, maximum: float) -> None:
        """Raise ConfigError unless ``minimum <= low <= high <= maximum``."""
        require_float(f"{path}.low", self.low, minimum, maximum)
        require_float(f"{path}.high", self.high, minimum, maximum)
        if self.high < self.low:
            raise ConfigError(f"{path}: high must be >= low; got low {self.low}, high {self.high}")


FloatChoice = FloatRange | list[float]
"""A float search dimension: a log range, or an explicit list of values."""


@dataclass(frozen=True)
class DataSection:
    """``[data]``: the series and how it is prepared.

    Attributes:
        series: Built-in name (``shampoo``, ``airline``) or a CSV path.
        date_column: Date column (default: the first).
        value_column: Value column (default: the second).
        date_format: How the dates are written (``%d/%m/%Y``...); needed only
            where they leave the order of day and month open (docs/method.md,
            section 1, step 1).
        test_size: Rows of the validation window at horizon 1 (the walk-forward's).
        train_size: Keep only the newest N training rows (default: all).
        holdout: Final observations the search never sees, scored only when the
            best configurations are confirmed; ``"auto"``: the validation window's
            size at horizon 1, the horizon above, when enough training rows
            remain (see :func:`tuner.search.windows.resolve_holdout`), else 0.
        season: Observations per season, for the seasonal baselines and MASE
            (default: from the series' frequency).
        horizon: Steps each scored forecast covers (1: the one-step walk-forward;
            docs/method.md, section 13).
        origins: Forecast origins above horizon 1, ending with the validation window.
        step: Observations between origins (default: the horizon).
        id_column: In a panel (a long CSV of many series, one row per series and
            date), the column naming each row's series; default ``unique_id``
            when the file has that column. Date and value columns are then counted
            without it, so ``unique_id, ds, y`` needs no other key.
        unique_id: One series of a panel: the study tunes it alone. Absent, a
            panel's study file describes one study per series (docs/guide.md, "Panels").
    """

    series: str
    date_column: str | None = None
    value_column: str | None = None
    date_format: str | None = None
    test_size: int = 12
    train_size: int | None = None
    holdout: int | str = "auto"
    season: int | None = None
    horizon: int = 1
    origins: int = 1
    step: int | None = None
    id_column: str | None = None
    unique_id: str | None = None

    @property
    def scoring(self) -> Scoring:
        """How the validation window is scored: horizon, origins, spacing, MASE's season."""
        return Scoring(self.horizon, self.origins, self.step, self.season)

    @property
    def window(self) -> int:
        """The validation window in observations.

        ``test_size`` at horizon 1; above, the origins' span: the horizon plus the
        spacing of each origin after the first.
        """
        scoring = self.scoring
        return scoring.span if scoring.recursive else self.test_size


SEARCH_PRESETS = ("auto",)
"""The values of ``[search] preset``: ``auto`` derives the space from the series."""


class _Unwritten(list):
    """A ``[search]`` list the study file leaves out: its default, not the user's choice.

    Equal to the same list written out, so a space reads it as any list; only
    :meth:`SearchSection.written` tells the two apart, because with ``preset =
    "auto"`` a written key overrides the derived value and an unwritten one is derived.
    """


@dataclass(frozen=True)
class SearchSection:
    """``[search]``: the hyperparameters Optuna samples.

    A study file without ``[search]``, or with ``preset = "auto"``, has its space
    derived from the series (:mod:`tuner.search.auto_space`), the keys it writes
    overriding the derived ones; until then ``epochs`` and ``neurons`` may be
    ``None``. :meth:`tuner.search.windows.StudyData.load` resolves it.

    Attributes:
        epochs: Training epochs (required without a preset).
        neurons: LSTM units (required without a preset).
        batch_size: Candidate batch sizes; each must divide both the training and
            test sizes. Empty: every common divisor.
        regimes: Candidate state regimes (default: all eight).
        update_epochs: Candidate retraining epochs per walk-forward step.
        lag: Past differences per input row.
        framing: Candidate framings of the lag inputs: ``features``, samples of
            shape (1, lag), or ``timesteps``, (lag, 1).
        transform: Candidate value transforms: ``none``, ``log``, ``boxcox``.
        seasonal_difference: Candidates for seasonal differencing: ``true`` is by
            the season (``[data] season``, or the series' frequency).
        layers: Stacked LSTM layers (1 to 3).
        learning_rate: Adam's learning rate, a log range or a list; absent: Keras's
            0.001, not searched.
        preset: ``"auto"``: derive every key the section leaves out from the
            series; ``None``: the section is the whole space.
    """

    epochs: IntChoice | None = None
    neurons: IntChoice | None = None
    batch_size: list[int] = field(default_factory=_Unwritten)
    regimes: list[str] = field(default_factory=lambda: _Unwritten(REGIME_NAMES))
    update_epochs: list[int] = field(default_factory=lambda: _Unwritten([0]))
    lag: IntChoice = field(default_factory=lambda: _Unwritten([1]))
    framing: list[str] = field(default_factory=lambda: _Unwritten(["features"]))
    transform: list[str] = field(default_factory=lambda: _Unwritten(["none"]))
    seasonal_difference: list[bool] = field(default_factory=lambda: _Unwritten([False]))
    layers: IntChoice = field(default_factory=lambda: _Unwritten([1]))
    learning_rate: FloatChoice | None = None
    preset: str | None = None

    def written(self) -> dict[str, object]:
        """The keys the study file writes (``preset`` aside), with their values."""
        return {
            f.name: value
            for f in dataclasses.fields(self)
            if f.name != "preset"
            and (value := getattr(self, f.name)) is not None
            and not isinstance(value, _Unwritten)
        }

    @property
    def lags(self) -> list[int]:
        """Every lag the study can sample, smallest first for a range."""
        lag = self.lag
        return list(range(lag.low, lag.high + 1)) if isinstance(lag, IntRange) else list(lag)


@dataclass(frozen=True)
class SamplerSection:
    """``[sampler]``: ``tpe`` (seeded) searches; ``grid`` sweeps every combination.

    Attributes:
        kind: ``tpe`` or ``grid`` (grid needs lists, not ranges, in ``[search]``).
        n_startup_trials: TPE's random trials before it models the results.
    """

    kind: str = "tpe"
    n_startup_trials: int = 10


@dataclass(frozen=True)
class PrunerSection:
    """``[pruner]``: stop trials that are clearly worse than the median, early.

    A trial runs its repeats in ``checkpoints`` chunks and reports the mean RMSE of
    the repeats done so far after each chunk; Optuna's median pruner stops it if
    that is worse than the median of earlier trials at the same point. Repeats are
    independent, so a trial that is not pruned has exactly the value it would have
    had without pruning.

    Attributes:
        enabled: Prune at all.
        checkpoints: Chunks of repeats (reports per trial).
        n_startup_trials: Trials that are never pruned, to build the median.
    """

    enabled: bool = True
    checkpoints: int = 3
    n_startup_trials: int = 5


@dataclass(frozen=True)
class WorkersSection:
    """``[workers]``: how workers detect and retry the trials of a dead worker.

    Attributes:
        heartbeat_interval: Seconds between a running trial's heartbeats.
        grace_period: Seconds without heartbeat after which a trial is failed.
        max_retry: Times a failed (stale or interrupted) trial is retried.
        max_consecutive_failures: A worker stops, with an error, after this many
            trials in a row raised an error (as KerasTuner's
            ``max_consecutive_failed_trials``): a broken study or machine then
            fails fast instead of failing every trial of the budget.
        trials_per_graph: Trials a worker trains together in one graph (a pack),
            1 to ``MAX_TRIALS_PER_GRAPH``, or ``"auto"``: as many as pay for
            themselves for the study's graph size (see :mod:`tuner.search.packing`).
    """

    heartbeat_interval: int = 10
    grace_period: int = 30
    max_retry: int = 3
    max_consecutive_failures: int = 3
    trials_per_graph: int | str = "auto"


@dataclass(frozen=True)
class ConfirmSection:
    """``[confirm]``: how the best configurations are scored on the holdout.

    Attributes:
        top: How many of the best complete configurations are confirmed.
        repeats: Fits of each, from fresh seeds.
    """

    top: int = 5
    repeats: int = 30


@dataclass(frozen=True)
class StudyConfig:
    """A whole study file.

    Attributes:
        name: Study name in the storage.
        trials: Global budget of finished trials (complete, pruned or failed).
        repeats: Fits per trial, each from its own initial weights.
        objective: A trial's value: ``mean_rmse``, the mean of its repeats' RMSEs
            (the tutorials' protocol), or ``ensemble_rmse``, the RMSE of their
            mean forecast (docs/method.md, section 6). Export, report, the
            confirmation on the holdout and ``tuner forecast --study`` rank by it.
        engine: ``fast`` or ``keras``.
        seed: Seeds the sampler and, with each trial's number, the trial's repeats.
        timeout: Seconds after which a worker starts no new trial (default: none).
        storage: Database URL used when neither ``--storage`` nor ``TUNER_STORAGE``
            gives one.
        data: ``[data]``.
        search: ``[search]``; absent: ``preset = "auto"``, derived from the series.
        sampler: ``[sampler]``.
        pruner: ``[pruner]``.
        workers: ``[workers]``.
        confirm: ``[confirm]``.
    """

    name: str
    trials: int
    data: DataSection
    search: SearchSection = field(default_factory=lambda: SearchSection(preset="auto"))
    repeats: int = 10
    objective: str = DEFAULT_OBJECTIVE
    engine: str = DEFAULT_ENGINE
    seed: int = 0
    timeout: int | None = None
    storage: str | None = None
    sampler: SamplerSection = field(default_factory=SamplerSection)
    pruner: PrunerSection = field(default_factory=PrunerSection)
    workers: WorkersSection = field(default_factory=WorkersSection)
    confirm: ConfirmSection = field(default_factory=ConfirmSection)

    def __post_init__(self) -> None:
        _validate(self)

    @functools.cached_property
    def storage_url(self) -> DatabaseURL | None:
        """The ``storage`` key parsed, once per study file; ``None`` when it has none.

        Raises:
            StorageError: The key is no database URL.
        """
        return None if self.storage is None else DatabaseURL.parse(self.storage)


def load_study_file(path: str | Path) -> tuple[StudyConfig, str]:
    """Read and validate a study file; return the config and the file's text.

    A CSV path in ``[data] series`` is relative to the study file, not to the
    directory the command runs in, so a study file and its data move together;
    the config holds it resolved (the text is returned as written).

    Raises:
        ConfigError: The file is missing, is not valid TOML, or breaks a rule.
    """
    require_path("study file", path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read study file {str(path)!r}: {error.strerror}") from None
    config = parse_study_text(text, str(path))
    return with_series(config, _beside(Path(path), config.data.series)), text


def with_series(config: StudyConfig, series: str) -> StudyConfig:
    """``config`` reading its series from ``series`` (a built-in name or a CSV path)."""
    return dataclasses.replace(config, data=dataclasses.replace(config.data, series=series))


def _beside(study_file: Path, series: str) -> str:
    """A relative CSV path as seen from the study file's directory; anything else as it is."""
    from tuner.data.series import BUILTIN_SERIES  # pandas: not for --help

    if series in BUILTIN_SERIES or Path(series).is_absolute():
        return series
    return os.path.normpath(study_file.absolute().parent / series)


def parse_study_text(text: str, source: str = "study file") -> StudyConfig:
    """Parse and validate the text of a study file.

    Raises:
        ConfigError: Not valid TOML, or a key is unknown, mistyped or impossible.
    """
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source} is not valid TOML: {error}") from None
    try:
        return _build(StudyConfig, table, "")
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def _validate_scoring(data: DataSection) -> None:
    """The horizon, origins and step, checked by :class:`Scoring`, named as keys of ``[data]``."""
    try:
        data.scoring  # noqa: B018 - built to be checked
    except ConfigError as error:
        raise ConfigError(f"data.{error}") from None


def _build(cls: type, table: object, path: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, checking keys and types."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path or 'the file'} must be a table; got {table!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key {_join(path, unknown[0])!r}; allowed keys"
            f"{' in [' + path + ']' if path else ''}: {', '.join(fields)}"
        )
    missing = [
        name
        for name, f in fields.items()
        if name not in table
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"missing required key {_join(path, missing[0])!r}")
    values = {
        name: _convert(hints[name], value, _join(path, name)) for name, value in table.items()
    }
    return cls(**values)


def _convert(hint: Any, value: object, path: str) -> object:
    """Check ``value`` against type ``hint`` (converting nested tables)."""
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _convert_union(typing.get_args(hint), value, path)
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{path} must be a list of {item.__name__}; got {value!r}")
        return [_convert(item, element, f"{path}[{i}]") for i, element in enumerate(value)]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{path} must be {_describe(hint)}; got {value!r}")
    return value


def _convert_union(options: tuple[Any, ...], value: object, path: str) -> object:
    if value is None and type(None) in options:
        return None
    for option in options:
        if option is type(None):
            continue
        if dataclasses.is_dataclass(option) and isinstance(value, dict):
            return _build(option, value, path)
        if typing.get_origin(option) is list and isinstance(value, list):
            return _convert(option, value, path)
        if isinstance(option, type) and isinstance(value, option):
            return _convert(option, value, path)
    allowed = " or ".join(_describe(option) for option in options if option is not type(None))
    raise ConfigError(f"{path} must be {allowed}; got {value!r}")


def _describe(hint: Any) -> str:
    if dataclasses.is_dataclass(hint):
        keys = ", ".join(f.name for f in dataclasses.fields(hint))
        return f"a table with keys {keys}"
    if typing.get_origin(hint) is list:
        return f"a list of {typing.get_args(hint)[0].__name__}"
    return {int: "an integer", str: "a string", bool: "true or false", float: "a number"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _validate(config: StudyConfig) -> None:
    """Rules beyond types: sizes, ranges, names and sampler compatibility."""
    # imports scikit-learn: not for --help
    from tuner.data.preparation import MAX_TRAINING_ROWS, TRANSFORMS

    require_study_name("name", config.name)
    require_int("trials", config.trials, 1)
    require_int("repeats", config.repeats, 1, MAX_REPEATS)
    require_int("seed", config.seed, 0)
    if config.timeout is not None:
        require_int("timeout", config.timeout, 1)
    require_choice("engine", config.engine, ENGINES)
    require_choice("objective", config.objective, OBJECTIVES)
    data, search = config.data, config.search
    require_int("data.test_size", data.test_size, 1)
    if data.train_size is not None:
        require_int("data.train_size", data.train_size, 1, MAX_TRAINING_ROWS)
    if data.holdout != "auto":
        if isinstance(data.holdout, str):
            raise ConfigError(
                f'data.holdout must be an integer >= 0 or "auto"; got {data.holdout!r}'
            )
        require_int("data.holdout", data.holdout, 0)
    if data.season is not None:
        require_int("data.season", data.season, 2)
    _validate_scoring(data)
    require_int("confirm.top", config.confirm.top, 1)
    require_int("confirm.repeats", config.confirm.repeats, 1, MAX_REPEATS)
    _validate_preset(search, config.sampler.kind)
    if search.epochs is not None:
        _validate_choice("search.epochs", search.epochs, 1, MAX_EPOCHS)
    if search.neurons is not None:
        _validate_choice("search.neurons", search.neurons, 1, MAX_NEURONS)
    _validate_choice("search.lag", search.lag, 1, MAX_LAG)
    for i, size in enumerate(search.batch_size):
        require_int(f"search.batch_size[{i}]", size, 1)
    _validate_names("search.regimes", search.regimes, REGIME_NAMES)
    if not search.update_epochs:
        raise ConfigError("search.update_epochs must list at least one value (0: no updates)")
    for i, epochs in enumerate(search.update_epochs):
        require_int(f"search.update_epochs[{i}]", epochs, 0, MAX_UPDATE_EPOCHS)
    _validate_names("search.framing", search.framing, FRAMINGS)
    _validate_names("search.transform", search.transform, TRANSFORMS)
    if not search.seasonal_difference:
        raise ConfigError("search.seasonal_difference must list at least one of false, true")
    _validate_choice("search.layers", search.layers, 1, MAX_LAYERS)
    if search.learning_rate is not None:
        _validate_choice(
            "search.learning_rate",
            search.learning_rate,
            MIN_LEARNING_RATE,
            MAX_LEARNING_RATE,
            require_float,
        )
    require_choice("sampler.kind", config.sampler.kind, SAMPLERS)
    require_int("sampler.n_startup_trials", config.sampler.n_startup_trials, 0)
    if config.sampler.kind == "grid":
        for name in ("epochs", "neurons", "lag", "layers", "learning_rate"):
            if isinstance(getattr(search, name), IntRange | FloatRange):
                raise ConfigError(
                    f"search.{name} must be a list of values with sampler.kind = 'grid'; "
                    "got a range"
                )
    require_int("pruner.checkpoints", config.pruner.checkpoints, 1)
    require_int("pruner.n_startup_trials", config.pruner.n_startup_trials, 0)
    workers = config.workers
    require_int("workers.heartbeat_interval", workers.heartbeat_interval, 1)
    if workers.grace_period <= workers.heartbeat_interval:
        raise ConfigError(
            "workers.grace_period must be longer than workers.heartbeat_interval "
            f"({workers.heartbeat_interval}); got {workers.grace_period}"
        )
    require_int("workers.max_retry", workers.max_retry, 0)
    require_int("workers.max_consecutive_failures", workers.max_consecutive_failures, 1)
    if workers.trials_per_graph != "auto":
        if isinstance(workers.trials_per_graph, str):
            raise ConfigError(
                f"workers.trials_per_graph must be an integer from 1 to {MAX_TRIALS_PER_GRAPH} "
                f'or "auto"; got {workers.trials_per_graph!r}'
            )
        require_int("workers.trials_per_graph", workers.trials_per_graph, 1, MAX_TRIALS_PER_GRAPH)


def _validate_preset(search: SearchSection, sampler: str) -> None:
    """A known preset, or none and the keys a hand-written space cannot do without.

    The auto space samples ranges, which a grid cannot sweep, so the two are refused
    together rather than failing when the first worker builds the grid.
    """
    if search.preset is None:
        for name in ("epochs", "neurons"):
            if getattr(search, name) is None:
                raise ConfigError(
                    f"missing required key 'search.{name}'; or set search.preset = \"auto\" "
                    "to derive the space from the series"
                )
        return
    require_choice("search.preset", search.preset, SEARCH_PRESETS)
    if sampler == "grid":
        raise ConfigError(
            f"search.preset \"{search.preset}\" derives ranges, which sampler.kind = 'grid' "
            "cannot sweep; write [search] as lists, or use sampler.kind = 'tpe'"
        )


def _validate_names(path: str, names: list[str], allowed: Sequence[str]) -> None:
    """A non-empty list whose every entry is one of ``allowed``."""
    if not names:
        raise ConfigError(f"{path} must list at least one of {', '.join(allowed)}")
    for i, name in enumerate(names):
        require_choice(f"{path}[{i}]", name, allowed)


def _validate_choice(
    path: str,
    choice: IntChoice | FloatChoice,
    minimum: float,
    maximum: float,
    require: Callable[[str, object, Any, Any], None] = require_int,
) -> None:
    """A range within ``[minimum, maximum]``, or a non-empty list that ``require`` accepts."""
    if isinstance(choice, IntRange | FloatRange):
        choice.validate(path, minimum, maximum)
        return
    if not choice:
        raise ConfigError(f"{path} must list at least one value")
    for i, value in enumerate(choice):
        require(f"{path}[{i}]", value, minimum, maximum)
