"""The Python API for notebooks (tuner/api.py): the commands' results as tables and objects."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.helpers import ROOT
from tests.helpers.commands import doc_block
from tuner.data.dates import date_label


def test_the_api_forecast_matches_the_command(exported, tmp_path, cli):
    import tuner

    frame = tuner.forecast(exported, horizon=3, repeats=2)
    assert (
        cli(
            "forecast", str(exported), "--horizon", "3", "--repeats", "2", "-o", str(tmp_path / "o")
        )[0]
        == 0
    )
    written = pd.read_csv(tmp_path / "o" / "forecast.csv", dtype={"date": str})
    assert frame["unique_id"].unique().tolist() == ["small"]
    assert [date_label(ds) for ds in frame["ds"]] == written["date"].tolist()  # shampoo's
    # years 1 to 3 stay periods: pandas' timestamps start in 1677
    assert np.allclose(frame["lstm"], written["mean"])
    assert np.allclose(frame["lstm-hi-80"], written["hi-80"], equal_nan=True)


def test_an_opened_study_shows_its_trials_and_best_configurations(small_study):
    import tuner

    study = tuner.open_study("small", storage=small_study["url"])
    trials = study.trials()
    assert len(trials) == 4 and set(trials["state"]) == {"COMPLETE"}
    complete = study.optuna_study().get_trials(deepcopy=False)
    for trial in complete:
        row = trials[trials["number"] == trial.number].iloc[0]
        assert row["mean_rmse"] == trial.value
        assert row["std"] == trial.user_attrs["std"] and row["repeats"] == 3
        assert row["epochs"] == trial.params["epochs"]
    (best,) = study.configurations(1)
    winner = min(complete, key=lambda t: t.value)
    assert best.hyperparameters.epochs == winner.params["epochs"]
    assert study.best()["epochs"] == winner.params["epochs"]
    with pytest.raises(tuner.TunerError, match="has 4 complete trial"):
        study.best(5)
    assert study.confirmed().empty  # no holdout: nothing to confirm
    with pytest.raises(tuner.TunerError, match="no study 'nope'"):
        tuner.open_study("nope", storage=small_study["url"])


def test_a_study_handle_never_shows_the_password():
    import tuner

    study = tuner.TunedStudy("x", "postgresql+psycopg://user:hunter2@host:5432/db")
    assert "hunter2" not in repr(study) and "user:***@host" in repr(study)


def test_the_api_page_shows_the_readme_notebook_example_as_it_runs():
    # The README's copy is the one run below; the API page's must be the same code.
    marker = "<!-- notebook-example -->"
    assert doc_block("docs/api.md", marker) == doc_block("README.md", marker)


@pytest.mark.slow
def test_the_readme_notebook_example_runs_as_written(tmp_path):

    csv = "tuner/data/datasets/airline-passengers.csv"  # relative to the repository's root
    code = doc_block("README.md", "<!-- notebook-example -->")
    assert code.count(csv) == 1
    code = code.replace(csv, str(ROOT / csv))  # run in a scratch directory, as written
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "lstm-lo-80" in result.stdout and "'seasonal_difference':" in result.stdout
    table = pd.read_csv(tmp_path / "notebook-forecast" / "forecast.csv")
    assert len(table) == 12 and np.isfinite(table["mean"]).all()
    assert (tmp_path / "nb.db").exists()
    assert (tmp_path / "storage" / "studies" / "airline.toml").exists()


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda tuner, _: tuner.forecast(None), "export file must be a file or directory path"),
        (lambda tuner, _: tuner.evaluate_export(1), "export file must be a file or directory path"),
        (lambda tuner, _: tuner.create_study(None), "study file must be a file or directory path"),
        (
            lambda tuner, exported: tuner.forecast(exported, output=1),
            "output directory must be a file or directory path; got 1",
        ),
        (lambda tuner, _: tuner.open_study("x", storage=1), "storage must be a database URL"),
        (lambda tuner, exported: tuner.forecast(exported, rank=True), "rank must be an integer"),
        (lambda tuner, exported: tuner.forecast(exported, rank=1.0), "rank must be an integer"),
    ],
)
def test_the_api_refuses_wrong_types_with_the_clis_one_line_errors(exported, call, expected):
    import tuner

    with pytest.raises(tuner.TunerError) as raised:
        call(tuner, exported)
    assert expected in str(raised.value) and "\n" not in str(raised.value)
