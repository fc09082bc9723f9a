"""Panels: a long CSV of many series is one study per series, served together by workers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from tests.helpers.commands import run_tuner
from tuner import tune
from tuner.api import TunedPanel, create_study, open_study
from tuner.data.series import PanelKey, load_series
from tuner.distributed.worker import run_worker
from tuner.evaluation.config import EvaluationConfig
from tuner.exceptions import ConfigError, DataError, StorageError
from tuner.search.choice import CANDIDATES
from tuner.search.panel import member_name, members, panel_id_column
from tuner.search.study import load_study_config
from tuner.search.studyfile import load_study_file
from tuner.storage.url import DatabaseURL

LENGTHS = {"b-2": 40, "a 1": 36, "short": 5, "c": 30}
"""Series in file order; ``short`` is too short for the study file below."""
STUDY = """
name = "shop"
trials = 2
repeats = 1

[data]
series = "panel.csv"
test_size = 4
holdout = 0

[search]
epochs = [3]
neurons = [1]
batch_size = [1]
regimes = ["stateless"]

[pruner]
enabled = false

[workers]
trials_per_graph = 1
"""


def _panel(folder: Path, lengths: dict[str, int] = LENGTHS, study: str = STUDY) -> Path:
    """A long CSV (``unique_id``, ``ds``, ``y``; each series at its own level) and a study file."""
    rows = [
        {"unique_id": uid, "ds": date.strftime("%Y-%m-%d"), "y": 10.0 * (position + 1) + step}
        for position, (uid, length) in enumerate(lengths.items())
        for step, date in enumerate(pd.date_range("2001-01-01", periods=length, freq="MS"))
    ]
    pd.DataFrame(rows).to_csv(folder / "panel.csv", index=False)
    path = folder / "panel.toml"
    path.write_text(study)
    return path


def test_a_series_of_a_panel_is_read_from_its_rows_without_the_id_column(tmp_path):
    _panel(tmp_path)
    series = load_series(tmp_path / "panel.csv", panel=PanelKey("unique_id", "c"))
    assert len(series) == LENGTHS["c"] and series.values[0] == 40.0
    assert series.value_column == "y" and series.index.name == "ds"
    with pytest.raises(DataError, match=r"no series 'd' in column 'unique_id'; the series are b-2"):
        load_series(tmp_path / "panel.csv", panel=PanelKey("unique_id", "d"))


def test_a_panel_has_one_study_per_series_in_file_order_named_for_it(tmp_path):
    config, _ = load_study_file(_panel(tmp_path))
    assert panel_id_column(config) == "unique_id"
    found = members(config)
    assert [m.unique_id for m in found] == list(LENGTHS)
    assert [m.config.name for m in found] == ["shop.b-2", "shop.a-1", "shop.short", "shop.c"]
    assert {m.config.data.unique_id for m in found} == set(LENGTHS)


def test_a_study_file_naming_one_series_of_a_panel_is_one_study(tmp_path):
    study = STUDY.replace('series = "panel.csv"', 'series = "panel.csv"\nunique_id = "c"')
    config, _ = load_study_file(_panel(tmp_path, study=study))
    assert panel_id_column(config) is None


def test_ids_that_make_one_study_name_are_refused(tmp_path):
    config, _ = load_study_file(_panel(tmp_path, {"a b": 30, "a/b": 30}))
    with pytest.raises(ConfigError, match=r"'a b' and 'a/b' both make study name 'shop\.a-b'"):
        members(config)


def test_workers_serve_every_usable_series_in_turn_and_skip_the_short_one(tmp_path):
    url = DatabaseURL.parse(f"sqlite:///{tmp_path / 'panel.db'}")
    skipped: list[tuple[str, str]] = []
    panel, created = create_study(
        _panel(tmp_path), storage=url.text, on_skip=lambda *s: skipped.append(s)
    )
    assert created and isinstance(panel, TunedPanel)
    assert [uid for uid, _ in skipped] == ["short"] and "has 5 values" in skipped[0][1]
    studies = [study.name for study in panel.studies()]
    assert studies == ["shop.b-2", "shop.a-1", "shop.c"]
    config, _ = load_study_config("shop.a-1", url)
    assert config.data.unique_id == "a 1"  # each study reads its own series back

    assert run_worker("shop", url, None, worker_index=0) == 6

    trials = sorted(
        (trial.datetime_start, study)
        for study in studies
        for trial in optuna.load_study(study_name=study, storage=url.text).trials
    )
    order = [study for _, study in trials]
    assert order == studies + studies  # one trial of each series, then the next of each
    status = panel.status()
    assert [one.unique_id for one in status.series] == ["b-2", "a 1", "c"]
    assert status.finished == status.budget == 6
    assert all(one.best_value is not None and np.isfinite(one.best_value) for one in status.series)


def test_a_panel_is_opened_by_name_and_unknown_names_list_panels_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'panel.db'}"
    create_study(_panel(tmp_path), storage=url, on_skip=lambda *_: None)
    assert isinstance(open_study("shop", url), TunedPanel)
    assert open_study("shop.c", url).name == "shop.c"
    with pytest.raises(StorageError, match=r"existing studies: shop \(a panel of 3\)$"):
        open_study("shops", url)


def test_a_panel_with_no_usable_series_is_refused_naming_the_first_reason(tmp_path):
    with pytest.raises(ConfigError, match="no series of panel 'shop' can be tuned; series 'x'"):
        create_study(_panel(tmp_path, {"x": 5, "y": 4}), storage=f"sqlite:///{tmp_path / 'p.db'}")


def test_tuner_run_serves_a_panel_and_status_shows_every_series(tmp_path):
    storage = f"sqlite:///{tmp_path / 'panel.db'}"
    study_file = str(_panel(tmp_path))
    run = run_tuner(
        "run", study_file, "--workers", "2", "--storage", storage, "--no-artifacts", "--no-progress"
    )
    assert run.returncode == 0, run.stderr
    assert "skipped series 'short': every candidate preparation is invalid" in run.stderr
    assert "panel 'shop': 3 series, 6 of 6 trials finished" in run.stdout
    status = run_tuner("status", "shop", "--storage", storage, "--json")
    record = json.loads(status.stdout)
    assert [one["unique_id"] for one in record["series"]] == ["b-2", "a 1", "c"]
    assert record["finished"] == record["budget"] == 6


def _tuned_shop(
    tmp_path: Path, frame: pd.DataFrame, space: dict, trials: int, settings: dict
) -> TunedPanel:
    """``frame`` tuned as the panel ``shop`` in ``tmp_path``, without artifacts."""
    return tune(
        frame,
        space,
        trials=trials,
        name="shop",
        settings=settings,
        storage=f"sqlite:///{tmp_path / 'p.db'}",
        folder=tmp_path / "studies",
        save_artifacts=False,
    )


def test_a_panel_dataframe_is_tuned_and_forecast_with_its_choice(tmp_path):
    frame = pd.read_csv(_panel(tmp_path).parent / "panel.csv", parse_dates=["ds"])
    frame = frame[frame.unique_id != "short"]
    settings = {
        "repeats": 1,
        "data": {"horizon": 2, "origins": 2},
        "confirm": {"top": 1, "repeats": 1},
    }
    space = {"epochs": [3], "neurons": [1], "regimes": ["stateless"], "lag": [1]}
    panel = _tuned_shop(tmp_path, frame, space, 2, settings)
    assert isinstance(panel, TunedPanel)
    forecast = panel.forecast(horizon=2)
    assert list(forecast.groupby("unique_id", sort=False).size().items()) == [
        ("b-2", 2),
        ("a 1", 2),
        ("c", 2),
    ]
    chosen = forecast.drop_duplicates("unique_id")
    assert chosen["chosen"].isin(CANDIDATES).all()
    assert forecast[["forecast", "lstm"]].notna().all().all()
    status = panel.status()
    assert all("choice" in one.holdout and "lstm" in one.holdout for one in status.series)
    assert sum(status.chosen.values()) == 3
    report = panel.report(tmp_path / "report").read_text()
    assert "Chosen on validation:" in report and all(f"| {uid} " in report for uid in ("b-2", "c"))
    assert set(panel.export()["series"]) == {"b-2", "a 1", "c"}


def test_a_panel_forecast_refuses_a_rank_and_a_directory_it_would_harm(tmp_path):
    storage = f"sqlite:///{tmp_path / 'panel.db'}"
    panel, _ = create_study(_panel(tmp_path), storage=storage, on_skip=lambda *_: None)
    ranked = run_tuner("forecast", "--study", "shop", "--rank", "2", "--storage", storage)
    assert ranked.returncode != 0 and "Traceback" not in ranked.stderr
    assert ranked.stderr.strip().splitlines()[-1] == (
        "tuner forecast: error: --rank applies to one study; a panel forecasts each series "
        "with the forecaster it chose (got --rank 2); give --study shop.ID for one series"
    )
    someones = tmp_path / "notes"
    someones.mkdir()
    (someones / "todo.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"holds no earlier panel forecast \(panel\.json\)"):
        panel.forecast(output=someones)
    assert (someones / "todo.txt").read_text() == "mine"


@pytest.mark.slow
def test_a_panel_forecast_in_two_processes_is_the_one_in_one(tmp_path):
    frame = pd.read_csv(_panel(tmp_path).parent / "panel.csv", parse_dates=["ds"])
    settings = {"repeats": 1, "data": {"horizon": 2, "origins": 2}, "confirm": {"top": 1}}
    space = {"epochs": [2], "neurons": [1], "regimes": ["stateless"], "lag": [1]}
    panel = _tuned_shop(tmp_path, frame[frame.unique_id != "short"], space, 1, settings)
    alone, apart = [], []
    one = panel.forecast(horizon=2, output=tmp_path / "one", progress=alone.append)
    two = panel.forecast(horizon=2, output=tmp_path / "two", progress=apart.append, workers=2)
    pd.testing.assert_frame_equal(two, one, check_exact=True)
    assert list(two.drop_duplicates("unique_id")["unique_id"]) == ["b-2", "a 1", "c"]
    forecasts = [(tmp_path / run / "forecast.csv").read_text() for run in ("one", "two")]
    assert forecasts[0] == forecasts[1]
    assert len(apart) == 3 and sum(apart) == sum(alone) > 0  # one call per series


def test_a_panel_forecast_refuses_workers_it_cannot_use(tmp_path):
    panel = TunedPanel("shop", f"sqlite:///{tmp_path / 'none.db'}")
    for workers in (0, True, 1.5):
        with pytest.raises(ConfigError, match=rf"^workers must be an integer >= 1; got {workers}"):
            panel.forecast(workers=workers)
    with pytest.raises(ConfigError, match=r"^workers > 1 needs a database file or server the"):
        TunedPanel("shop", "sqlite://").forecast(workers=2)
    assert not (tmp_path / "none.db").exists()


def test_workers_are_refused_on_a_single_study(tmp_path):
    storage = f"sqlite:///{tmp_path / 'panel.db'}"
    create_study(_panel(tmp_path), storage=storage, on_skip=lambda *_: None)
    single = run_tuner("forecast", "--study", "shop.c", "--workers", "2", "--storage", storage)
    assert single.returncode != 0 and "Traceback" not in single.stderr
    assert single.stderr.strip().splitlines() == [
        "tuner forecast: error: --workers applies to a panel, whose series it forecasts side "
        "by side; one configuration refits in one process (got --workers 2)"
    ]


def test_a_stored_panel_series_must_name_its_column_and_id_as_text():
    with pytest.raises(ConfigError, match=r"^panel must hold id_column and unique_id as text"):
        EvaluationConfig.from_dict({"data": "panel.csv", "panel": {"id_column": "unique_id"}})


def test_an_id_that_makes_a_study_name_too_long_is_refused():
    with pytest.raises(ConfigError, match="over 100 characters; shorten the panel's name or"):
        member_name("shop", "x" * 100)
