"""tuner.tune: a Series or a long DataFrame in, a study out, forecasts in Nixtla's long form."""

import numpy as np
import pandas as pd
import pytest

from tuner.data.frames import csv_text, one_series
from tuner.data.series import load_series
from tuner.data.source import DataSource
from tuner.exceptions import ConfigError

SPACE = {"epochs": {"low": 20, "high": 60}, "neurons": [1, 2], "regimes": ["seeded"], "lag": [1]}
SETTINGS = {"repeats": 2, "data": {"horizon": 3, "origins": 3}}
HELD = 12


def _airline(months: int = 144 - HELD) -> pd.Series:
    airline = load_series("airline")
    return pd.Series(airline.values[:months], index=airline.index[:months], name="airline")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2, 3], "data must be a pandas Series indexed by dates or a long DataFrame"),
        (
            pd.DataFrame({"unique_id": ["a", "b"], "ds": [1, 1], "y": [1.0, 2.0]}),
            "data must hold one series; got 2 unique_id values (a, b)",
        ),
        (pd.DataFrame({"ds": [1, 2]}), "missing y (columns: ds)"),
        (pd.Series([1.0, 2.0], index=["a", "b"]), "must be dates, periods or whole numbers"),
        (pd.Series(["x", "y"], index=[1, 2]), "data's values must be numbers; got dtype object"),
    ],
)
def test_anything_but_one_dated_numeric_series_is_refused_in_one_line(data, message):
    with pytest.raises(ConfigError) as raised:
        one_series(data)
    assert message in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "index",
    [
        pd.period_range("2001-01", periods=30, freq="M"),
        pd.date_range("2020-03-01", periods=30, freq="h"),
        pd.period_range("1990", periods=30, freq="Y"),
    ],
)
def test_a_series_written_for_the_workers_reads_back_with_its_dates_and_values(tmp_path, index):
    values = np.random.default_rng(0).normal(100, 10, len(index))
    identity, series = one_series(
        pd.DataFrame({"unique_id": "s1", "ds": index, "y": values}).iloc[::-1]  # any order
    )
    path = tmp_path / "s1.csv"
    path.write_text(csv_text(series))
    loaded = DataSource(str(path)).load()
    assert identity == "s1"
    assert np.allclose(loaded.values, values, rtol=1e-14, atol=0)  # in date order
    assert pd.Index(loaded.index).to_series().diff().nunique() <= 3  # one frequency
    assert len(loaded) == len(index)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    import tuner

    root = tmp_path_factory.mktemp("tune")
    study = tuner.tune(
        _airline(),
        SPACE,
        trials=3,
        settings=SETTINGS,
        storage=f"sqlite:///{root / 'tuner.db'}",
        folder=root / "studies",
        save_artifacts=False,
    )
    return study, root


@pytest.mark.slow
def test_a_series_is_tuned_in_one_call_and_its_files_resume_it(tuned):
    import tuner

    study, root = tuned
    trials = study.trials()
    assert len(trials) == 3 and set(trials["state"]) == {"COMPLETE"}
    again = tuner.tune(
        _airline(),
        SPACE,
        trials=3,
        settings=SETTINGS,
        storage=study.url,
        folder=root / "studies",
        save_artifacts=False,
    )
    assert len(again.trials()) == 3  # the budget was met: nothing ran twice
    with pytest.raises(ConfigError, match="holds another series or settings for study 'airline'"):
        tuner.tune(_airline(100), SPACE, storage=study.url, folder=root / "studies")


@pytest.mark.slow
def test_best_is_one_flat_dict_that_refits_the_trial_to_its_score(tuned):
    import tuner

    study, _ = tuned
    best = study.best()
    assert {"lag", "transform", "seasonal_difference", "epochs", "neurons", "regime"} <= set(best)
    evaluation = tuner.plan_evaluation(tuner.EvaluationConfig.from_dict(best)).run()
    winner = min(study.optuna_study().get_trials(), key=lambda t: t.value)
    assert evaluation.mean == pytest.approx(winner.value, rel=1e-6)


@pytest.mark.slow
def test_forecasts_are_long_frames_that_utilsforecast_evaluates_and_plots(tuned):
    from utilsforecast.evaluation import evaluate
    from utilsforecast.losses import mae
    from utilsforecast.plotting import plot_series

    study, _ = tuned
    forecasts = study.forecast(horizon=HELD, repeats=2)
    assert pd.api.types.is_datetime64_any_dtype(forecasts["ds"])
    assert list(forecasts.columns[:3]) == ["unique_id", "ds", "lstm"]
    history = _airline(144)
    actual = pd.DataFrame(
        {"unique_id": "airline", "ds": history.index.to_timestamp(), "y": history.values}
    )
    scored = evaluate(forecasts.merge(actual, on=["unique_id", "ds"]), metrics=[mae])
    expected = np.abs(history.values[-HELD:] - forecasts["lstm"].to_numpy()).mean()
    assert scored["lstm"].item() == pytest.approx(expected)
    figure = plot_series(actual.iloc[:-HELD], forecasts, level=[80])
    assert figure.axes and figure.axes[0].get_lines()


@pytest.mark.parametrize(
    ("space", "settings", "message"),
    [
        (None, {"bogus": 1}, "bogus"),
        ({"neurons": {1, 2}}, None, "space and settings must hold TOML values"),
        ({"epochs": {"low": 0, "high": 5}, "neurons": [1]}, None, "search.epochs"),
        (None, {"data": {"test_size": 500}}, "test_size"),
    ],
)
def test_bad_settings_are_refused_before_anything_runs_and_leave_nothing(
    tmp_path, space, settings, message
):
    import tuner

    database = tmp_path / "tuner.db"
    with pytest.raises(ConfigError, match=message) as raised:
        tuner.tune(
            _airline(),
            space,
            settings=settings,
            storage=f"sqlite:///{database}",
            folder=tmp_path / "studies",
        )
    assert "\n" not in str(raised.value)
    assert not database.exists()
    assert list((tmp_path / "studies").iterdir()) == []  # the next call is not refused
