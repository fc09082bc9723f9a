"""How a window is scored: the horizon, the forecast origins, and MASE's season.

At horizon 1 a window is scored by the walk-forward (docs/method.md, section 5):
every observation forecast one step ahead from the actual ones before it. At a
horizon ``H`` above 1 it is scored as users forecast (section 13): from each of
``origins`` forecast origins, ``step`` observations apart and ending with the
window, the configuration is fitted on the observations before the origin and
forecasts the next ``H`` recursively, as ``tuner forecast`` does. These are the
arguments of statsforecast's ``cross_validation(h, n_windows, step_size)``, so the
baselines are scored on the very same forecasts (:meth:`Scoring.cross_validation`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tuner._checks import require_int
from tuner.exceptions import ConfigError
from tuner.method.limits import MAX_HORIZON, MAX_ORIGINS

__all__ = ["Scoring"]


@dataclass(frozen=True)
class Scoring:
    """The forecasts a window is scored on: ``origins`` forecasts of ``horizon`` steps.

    Attributes:
        horizon: Steps each forecast covers (1: the one-step walk-forward).
        origins: Forecast origins (at horizon 1 the walk-forward scores every
            observation of the window, and this must be 1).
        step: Observations between consecutive origins (``None``: the horizon).
        season: The season of MASE's seasonal naive scale (``None``: the one the
            series' dates imply, else 1).
    """

    horizon: int = 1
    origins: int = 1
    step: int | None = None
    season: int | None = None

    def __post_init__(self) -> None:
        require_int("horizon", self.horizon, 1, MAX_HORIZON)
        require_int("origins", self.origins, 1, MAX_ORIGINS)
        if self.step is not None:
            require_int("step", self.step, 1)
        if self.season is not None:
            require_int("season", self.season, 1)
        if self.horizon == 1 and self.origins != 1:
            raise ConfigError(
                f"origins must be 1 at horizon 1 (the walk-forward already forecasts every "
                f"observation of the window from its own origin); got {self.origins}; "
                f"a horizon above 1 scores several origins"
            )

    @property
    def recursive(self) -> bool:
        """Whether forecasts are recursive from refitted origins (horizon above 1)."""
        return self.horizon > 1

    @property
    def fits(self) -> int:
        """Fits of each repeat: one per origin above horizon 1, the walk-forward's one at 1."""
        return self.origins if self.recursive else 1

    @property
    def spacing(self) -> int:
        """Observations between consecutive origins: ``step``, or the horizon."""
        return self.horizon if self.step is None else self.step

    @property
    def span(self) -> int:
        """Observations from the first origin to the last forecast: the window's length."""
        return self.horizon + (self.origins - 1) * self.spacing

    def starts(self, stop: int, window: int) -> list[int]:
        """The first observation each forecast covers, in a ``window`` ending at ``stop``.

        At horizon 1 every observation of the window is a forecast of its own;
        above, the origins end with the window, whatever its length.
        """
        if not self.recursive:
            return list(range(stop - window, stop))
        first = stop - self.span
        return [first + origin * self.spacing for origin in range(self.origins)]

    def settings(self) -> dict[str, int | None]:
        """The non-default settings as a flat dictionary (empty at horizon 1).

        Left out at their defaults, so that every stored configuration and
        fingerprint from before horizons existed stays what it was.
        """
        settings = dataclasses.asdict(self)
        return {k: v for k, v in settings.items() if v != _DEFAULTS[k]}

    def over(self, window: int) -> Scoring:
        """As many origins of this horizon and spacing as a window of ``window`` holds.

        The holdout is scored this way: same horizon and spacing, its own count.

        Raises:
            ConfigError: The window is shorter than the horizon.
        """
        if window < self.horizon:
            raise ConfigError(
                f"a window of {window} observations is shorter than horizon {self.horizon}"
            )
        if not self.recursive:
            return self
        return dataclasses.replace(self, origins=1 + (window - self.horizon) // self.spacing)

    def cross_validation(self, window: int) -> dict[str, int]:
        """Statsforecast's ``cross_validation`` arguments scoring the same forecasts.

        At horizon 1 the walk-forward's forecasts are ``window`` one-step windows.
        """
        if not self.recursive:
            return {"h": 1, "n_windows": window, "step_size": 1}
        return {"h": self.horizon, "n_windows": self.origins, "step_size": self.spacing}


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Scoring)}
