"""What determines an evaluation's numbers: series, preparation, configuration, seed.

A configuration is stored with every trial and in every export as the flat
dictionary :meth:`EvaluationConfig.to_dict` writes, and read back with
:meth:`EvaluationConfig.from_dict`, so a trial can be re-run anywhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field

from tuner._checks import require_choice, require_int
from tuner.data.preparation import Preparation, PreparedData, prepare
from tuner.data.series import PanelKey
from tuner.data.source import DataSource
from tuner.engines import DEFAULT_ENGINE, ENGINES
from tuner.exceptions import ConfigError
from tuner.method.limits import MAX_REPEATS
from tuner.method.protocol import Hyperparameters
from tuner.method.scoring import Scoring

__all__ = ["EvaluationConfig", "load_and_prepare"]


@dataclass(frozen=True)
class EvaluationConfig:
    """Everything that determines an evaluation's numbers.

    Attributes:
        source: The series.
        preparation: Lag, test size, training-set trimming, value transform and
            seasonal difference.
        hyperparameters: The LSTM configuration.
        repeats: Independent fits, each from its own initial weights.
        seed: Base seed from which every repeat's randomness is derived.
        engine: Name of the engine that computes the fits.
        scoring: The horizon and forecast origins the test window is scored on
            (the one-step walk-forward at horizon 1), and MASE's season.
    """

    source: DataSource
    preparation: Preparation
    hyperparameters: Hyperparameters
    repeats: int = 10
    seed: int = 0
    engine: str = DEFAULT_ENGINE
    scoring: Scoring = field(default_factory=Scoring)

    def __post_init__(self) -> None:
        require_int("repeats", self.repeats, 1, MAX_REPEATS)
        require_int("seed", self.seed, 0)
        require_choice("engine", self.engine, ENGINES)

    @classmethod
    def from_dict(cls, settings: dict[str, object]) -> EvaluationConfig:
        """Rebuild a configuration from :meth:`to_dict`'s output (absent keys: defaults).

        Raises:
            ConfigError: A key is unknown or a value breaks a rule.
        """
        groups = {
            "source": DataSource,
            "preparation": Preparation,
            "hyperparameters": Hyperparameters,
            "scoring": Scoring,
        }
        fields = {name: {f.name for f in dataclasses.fields(kind)} for name, kind in groups.items()}
        top = {"repeats", "seed", "engine"}
        unknown = sorted(set(settings) - top - set().union(*fields.values()))
        if unknown:
            raise ConfigError(f"unknown setting {unknown[0]!r}")
        if isinstance(settings.get("panel"), dict):  # one series of a panel, as to_dict wrote it
            settings = {**settings, "panel": _panel_key(settings["panel"])}
        try:
            parts = {
                name: kind(**{k: v for k, v in settings.items() if k in fields[name]})
                for name, kind in groups.items()
            }
        except TypeError as error:
            raise ConfigError(f"incomplete configuration: {error}") from None
        return cls(**parts, **{k: v for k, v in settings.items() if k in top})

    def to_dict(self) -> dict[str, object]:
        """A flat dictionary of every setting, for JSON output and stored trials."""
        source = asdict(self.source)
        if not source["withheld"]:  # the default: a configuration scored on its whole series
            del source["withheld"]
        for key in ("date_format", "panel"):  # the defaults, left out as before they existed
            if source[key] is None:
                del source[key]
        return {
            **source,
            **self.preparation.settings(),
            **asdict(self.hyperparameters),
            **self.scoring.settings(),
            "repeats": self.repeats,
            "seed": self.seed,
            "engine": self.engine,
        }


def _panel_key(record: dict[str, object]) -> PanelKey:
    """A panel's series as stored: ``{"id_column": ..., "unique_id": ...}``.

    Raises:
        ConfigError: Either key is missing or not text.
    """
    id_column, unique_id = record.get("id_column"), record.get("unique_id")
    if not isinstance(id_column, str) or not isinstance(unique_id, str):
        raise ConfigError(f"panel must hold id_column and unique_id as text; got {record!r}")
    return PanelKey(id_column, unique_id)


def load_and_prepare(config: EvaluationConfig) -> PreparedData:
    """Load the configured series and prepare it."""
    return prepare(config.source.load(), config.preparation)
