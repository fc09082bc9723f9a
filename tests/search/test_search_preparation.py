"""Searching the preparation: transform and seasonal difference sampled, refused, confirmed."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import optuna
import pytest

from tests.helpers import ROOT
from tests.helpers.studies import study_toml
from tuner.data.preparation import Preparation
from tuner.data.source import DataSource
from tuner.distributed.worker import run_worker
from tuner.evaluation.runner import EvaluationConfig
from tuner.method.protocol import Hyperparameters
from tuner.search.records import study_attrs
from tuner.search.study import create_study
from tuner.search.studyfile import parse_study_text
from tuner.search.windows import StudyData

SEARCHED = {"transform": ["none", "log", "boxcox"], "seasonal_difference": [False, True]}


def _study(
    series: str = "airline", search: Mapping[str, object] = SEARCHED, trials: int = 6
) -> str:
    """A grid study ``prep`` that also searches ``search``, every trial confirmed."""
    return study_toml(
        "prep",
        trials=trials,
        repeats=2,
        seed=3,
        data={"series": series, "train_size": 24},
        search={
            "epochs": [2],
            "neurons": [1],
            "batch_size": [4],
            "regimes": ["stateless"],
            **search,
        },
        sampler={"kind": "grid"},
        pruner={"enabled": False},
        confirm={"top": 6, "repeats": 2},
    )


def test_a_study_samples_every_transform_and_seasonal_difference_and_confirms_them(tmp_path, cli):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    text = _study()
    create_study(parse_study_text(text), text, url)
    run_worker("prep", url, None, worker_index=0)
    study = optuna.load_study(study_name="prep", storage=url)
    trials = study.get_trials()
    sampled = {(t.params["transform"], t.params["seasonal_difference"]) for t in trials}
    assert sampled == {(t, s) for t in ("none", "log", "boxcox") for s in (False, True)}
    for trial in trials:
        config = trial.user_attrs["config"]
        assert config.get("transform", "none") == trial.params["transform"]
        assert config.get("seasonal_difference", 0) == (
            12 if trial.params["seasonal_difference"] else 0
        )
        assert math.isfinite(trial.value)
    persistence = {t.user_attrs["persistence_rmse"] for t in trials}
    assert len(persistence) == 1  # scored on the raw series, whatever the preparation
    records = study_attrs(study)["confirmation"]["configurations"]
    assert len(records) == 6
    assert all(r["holdout_rmse"] is not None and math.isfinite(r["holdout_rmse"]) for r in records)
    assert {r["holdout_config"].get("transform", "none") for r in records} == {
        "none",
        "log",
        "boxcox",
    }
    path = tmp_path / "best.json"
    assert cli("export", "prep", "--storage", url, "-o", str(path))[0] == 0
    record = json.loads(path.read_text())["configurations"][0]
    status, out, err = cli("evaluate", str(path), "--json", "--no-progress")
    assert status == 0, err
    # the trial was padded with its study's sizes, so to float32 round-off only
    assert json.loads(out)["mean"] == pytest.approx(record["validation_mean_rmse"], rel=1e-6)
    evaluated = json.loads(out)["config"]
    for key in ("lag", "transform", "seasonal_difference"):
        assert evaluated.get(key) == record["config"].get(key)


@pytest.mark.parametrize(
    "preparation",
    [Preparation(lag=13, transform="boxcox", seasonal_difference=12), Preparation(lag=2)],
)
def test_a_configuration_carries_its_preparation_and_an_old_one_loads_with_defaults(preparation):
    config = EvaluationConfig(
        source=DataSource("airline"),
        preparation=preparation,
        hyperparameters=Hyperparameters(epochs=1, batch_size=1, neurons=1, regime="seeded"),
    )
    settings = config.to_dict()
    assert EvaluationConfig.from_dict(settings) == config
    assert ("transform" in settings) == (preparation.transform != "none")
    old = {k: v for k, v in settings.items() if k not in ("transform", "seasonal_difference")}
    assert EvaluationConfig.from_dict(old).preparation == Preparation(lag=preparation.lag)


def test_a_default_study_keeps_its_params(tmp_path):
    config = parse_study_text(_study(search={}))
    assert next(iter(StudyData.load(config).search)).transform == "none"
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    text = _study(search={}, trials=1)
    create_study(parse_study_text(text), text, url)
    run_worker("prep", url, None, worker_index=0)
    (trial,) = optuna.load_study(study_name="prep", storage=url).get_trials()
    assert "transform" not in trial.params and "seasonal_difference" not in trial.params
    assert "transform" not in trial.user_attrs["config"]


def test_an_invalid_candidate_is_dropped_with_its_reason(write_csv, caplog):
    rows = "".join(
        f"{2000 + i // 12}-{i % 12 + 1:02d},{0 if i == 70 else 100 + i}\n" for i in range(100)
    )
    path = write_csv("month,value\n" + rows)
    search = {"transform": ["none", "log"], "lag": [1, 2]}
    preparations = list(StudyData.load(parse_study_text(_study(series=path, search=search))).search)
    assert {p.transform for p in preparations} == {"none"}
    assert {p.lag for p in preparations} == {1, 2}
    assert "search.transform log dropped from the search space" in caplog.text
    assert "2005-11" in caplog.text


def _zero_series(write_csv) -> str:
    rows = "".join(
        f"{2000 + i // 12}-{i % 12 + 1:02d},{0 if i == 70 else 100 + i}\n" for i in range(100)
    )
    return write_csv("month,value\n" + rows)


def _yearly_series(write_csv) -> str:
    return write_csv(
        "year,value\n" + "".join(f"{1900 + i}-01-01,{100 + i % 7}\n" for i in range(100))
    )


@pytest.mark.parametrize(
    ("series", "search", "expected"),
    [
        (
            _zero_series,
            {"transform": ["log", "boxcox"]},
            "every candidate preparation is invalid: search.transform log: ",
        ),
        (
            _zero_series,
            {"transform": ["log"]},
            "needs values > 0; the first that is not is 0 at 2005-11",
        ),
        (
            _yearly_series,
            {"seasonal_difference": [True]},
            "search.seasonal_difference true needs a season",
        ),
        (
            lambda _: "airline",
            {"lag": [120]},
            "every candidate preparation is invalid: search.lag 120: ",
        ),
        (lambda _: "airline", {"lag": [120]}, "allowed: search.lag from 1 to 107"),
        (
            lambda _: "airline",
            {"transform": ["sqrt"]},
            "search.transform[0] must be one of none, log, boxcox",
        ),
    ],
)
def test_an_impossible_preparation_is_refused_by_create_in_one_line(
    tmp_path: Path, cli, write_csv, series, search, expected
):
    path = tmp_path / "study.toml"
    path.write_text(_study(series=series(write_csv), search=search))
    database = tmp_path / "x.db"
    status, _, err = cli("create", str(path), "--storage", f"sqlite:///{database}")
    assert status == 2
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err
    assert not database.exists()


@pytest.mark.parametrize(
    ("study", "transforms", "seasonal_differences", "lags"),
    [("airline-ensemble", 3, 2, 24), ("shampoo-ensemble", 3, 1, 4)],
)
def test_the_shipped_competitive_studies_keep_every_candidate_preparation(
    study, transforms, seasonal_differences, lags
):
    from tuner.search.studyfile import load_study_file

    path = ROOT / "studies" / f"{study}.toml"
    config, _ = load_study_file(path)
    preparations = list(StudyData.load(config).search)
    assert len(preparations) == transforms * seasonal_differences * lags
    assert {p.transform for p in preparations} == set(config.search.transform)
    assert max(p.lag for p in preparations) == lags
