"""The automatic search space: derived from each series, overridden key by key."""

from __future__ import annotations

import dataclasses

import optuna
import pandas as pd
import pytest

from tests.helpers.studies import study_toml
from tuner.data.series import Series, load_series
from tuner.distributed.worker import run_worker
from tuner.exceptions import ConfigError
from tuner.search.auto_space import auto_search
from tuner.search.space import SearchSpace
from tuner.search.study import create_study
from tuner.search.studyfile import DataSection, FloatRange, IntRange, parse_study_text
from tuner.search.windows import StudyData

AIRLINE = DataSection(series="airline")


@pytest.fixture(scope="module")
def airline() -> Series:
    return load_series("airline")


def _auto(**search: object) -> str:
    """An airline study whose ``[search]`` is the auto preset with ``search`` written."""
    return study_toml("auto", trials=2, data={"series": "airline"}, search=search or None)


def test_only_a_positive_series_searches_log_and_boxcox(airline):
    assert auto_search(airline, 12, AIRLINE, {}).transform == ["none", "log", "boxcox"]
    with_zero = dataclasses.replace(airline, values=airline.values - airline.values.min())
    assert auto_search(with_zero, 12, AIRLINE, {}).transform == ["none"]


def test_a_season_adds_the_seasonal_difference_and_two_seasons_of_lags(airline):
    seasonal = auto_search(airline, 12, AIRLINE, {})
    assert seasonal.seasonal_difference == [False, True]
    assert seasonal.lag == IntRange(1, 24)
    plain = auto_search(airline, None, AIRLINE, {})
    assert plain.seasonal_difference == [False]
    assert plain.lag == IntRange(1, 6)


def test_a_short_series_gets_fewer_lags_and_no_seasonal_difference(airline):
    short = dataclasses.replace(airline, values=airline.values[:36], index=airline.index[:36])
    search = auto_search(short, 12, AIRLINE, {})
    assert search.lag == IntRange(1, 9)  # a quarter of 36, below two seasons
    assert search.seasonal_difference == [False]  # 36 - 12 - 12 leaves one season, not three
    assert search.transform == ["none", "log", "boxcox"]


def test_a_study_file_without_search_loads_a_concrete_space():
    config = parse_study_text(_auto())
    assert config.search.preset == "auto" and config.search.epochs is None
    data = StudyData.load(config)
    search = data.config.search
    assert search.preset is None
    assert search.epochs == IntRange(20, 300, log=True)
    assert search.neurons == IntRange(4, 32, log=True)
    assert search.layers == IntRange(1, 2)
    assert search.learning_rate == FloatRange(0.001, 0.01)
    assert search.regimes == ["stateless", "seeded"]
    assert data.holdout == 12  # the holdout sees the derived lags
    space = SearchSpace.build(data)
    assert space.transforms == ["none", "log", "boxcox"]
    assert space.seasonal_differences == [False, True]
    assert space.batch_sizes == [1]  # every row count of every preparation: only 1 divides all


def test_a_written_key_overrides_the_derived_one_even_at_its_default():
    config = parse_study_text(_auto(preset="auto", transform=["none"], epochs=[5, 10]))
    search = StudyData.load(config).config.search
    assert search.transform == ["none"]  # written: the positive series' log and boxcox go
    assert search.epochs == [5, 10]
    assert search.neurons == IntRange(4, 32, log=True)  # not written: derived
    assert search.seasonal_difference == [False, True]


def test_a_hand_written_space_is_left_as_written():
    text = _auto(epochs=[5], neurons=[1])
    search = StudyData.load(parse_study_text(text)).config.search
    assert search == parse_study_text(text).search
    assert search.transform == ["none"] and len(search.regimes) == 8


@pytest.mark.parametrize(
    ("search", "sampler", "message"),
    [
        ({"preset": "manual"}, None, "search.preset must be one of auto; got 'manual'"),
        ({"neurons": [1]}, None, "missing required key 'search.epochs'; or set search.preset"),
        ({"preset": "auto"}, {"kind": "grid"}, "sampler.kind = 'grid' cannot sweep"),
    ],
)
def test_a_bad_preset_is_refused_in_one_line(search, sampler, message):
    text = study_toml("auto", trials=2, data={"series": "airline"}, search=search, sampler=sampler)
    with pytest.raises(ConfigError, match=r"search\.") as error:
        parse_study_text(text)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_an_auto_study_runs_and_searches_the_derived_dimensions(tmp_path, airline):
    csv = tmp_path / "airline60.csv"
    pd.DataFrame({"Month": [str(p) for p in airline.index[:60]], "y": airline.values[:60]}).to_csv(
        csv, index=False
    )
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    text = study_toml(
        "auto",
        trials=2,
        repeats=1,
        data={"series": str(csv), "holdout": 0},
        search={"preset": "auto", "epochs": {"low": 5, "high": 10}},  # short fits; the rest derived
        pruner={"enabled": False},
    )
    create_study(parse_study_text(text), text, url, baselines=False)
    run_worker("auto", url, None, worker_index=0)
    trials = optuna.load_study(study_name="auto", storage=url).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    for trial in trials:
        params = trial.params
        assert {"transform", "seasonal_difference", "layers", "learning_rate"} <= set(params)
        assert 1 <= params["lag"] <= 15 and params["regime"] in ("stateless", "seeded")
        assert 4 <= params["neurons"] <= 32 and 5 <= params["epochs"] <= 10


def test_the_lags_stop_where_the_validation_window_leaves_one_training_row(
    tmp_path, airline, caplog
):
    """No lag of the derived space is one the candidates' check would drop with a warning."""
    path = tmp_path / "short.csv"
    pd.DataFrame({"ds": airline.index[:48], "y": airline.values[:48]}).to_csv(path, index=False)
    data = DataSection(series=str(path), horizon=18, origins=2)
    short = dataclasses.replace(airline, values=airline.values[:48], index=airline.index[:48])
    assert data.window == 36
    assert auto_search(short, 12, data, {}).lag == IntRange(1, 10)  # 48 - 36 - 2, below 48 / 4
    text = study_toml("short", trials=2, data={"series": str(path), "horizon": 18, "origins": 2})
    with caplog.at_level("WARNING"):
        loaded = StudyData.load(parse_study_text(text))
    assert loaded.holdout == 0 and max(p.lag for p in loaded.search) == 10
    assert not [r for r in caplog.records if "dropped" in r.getMessage()]
