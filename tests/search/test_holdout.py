"""Three windows: the search never reads the holdout; confirmation scores it, once."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import optuna
import pytest

from tests.helpers import ROOT
from tests.helpers.studies import study_toml
from tuner.distributed.worker import run_worker
from tuner.exceptions import ConfigError
from tuner.search.confirmation import confirm_study
from tuner.search.records import set_study_attr, study_attrs
from tuner.search.study import create_study
from tuner.search.studyfile import DataSection, parse_study_text
from tuner.search.windows import Windows, resolve_holdout

AIRLINE = ROOT / "tuner" / "data" / "datasets" / "airline-passengers.csv"


def holdout_study_toml(name: str = "air", series: str | Path = "airline", **data: object) -> str:
    """A short study with confirmation on the holdout; ``data`` changes its ``[data]``."""
    return study_toml(
        name,
        trials=3,
        repeats=2,
        seed=5,
        data={"series": series, "train_size": 24, **data},
        search={"epochs": [2, 4], "neurons": [1], "batch_size": [4], "regimes": ["stateless"]},
        pruner={"enabled": False},
        confirm={"top": 2, "repeats": 3},
    )


def make_study(tmp_path: Path, name: str = "air", series: str = "airline") -> str:
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    text = holdout_study_toml(name, series)
    create_study(parse_study_text(text), text, url)
    return url


@pytest.mark.parametrize(
    ("observations", "holdout", "expected"),
    [(144, "auto", 12), (36, "auto", 0), (49, "auto", 12), (48, "auto", 0), (144, 0, 0)],
)
def test_auto_holdout_needs_twice_test_size_training_rows_after_both_windows(
    observations, holdout, expected
):
    data = DataSection(series="x", holdout=holdout)
    assert resolve_holdout(data, observations, max_lag=1) == expected


def test_the_windows_are_the_test_size_before_the_holdout_then_the_holdout():
    windows = Windows.of(144, 12, 12)
    assert windows.validation == (120, 132) and windows.holdout == (132, 144)
    assert Windows.of(36, 12, 0).holdout is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "data.holdout must be an integer >= 0; got -1"),
        ("most", "data.holdout must be an integer >= 0 or \"auto\"; got 'most'"),
        (True, "data.holdout must be an integer; got True"),
        (130, "data.holdout 130 leaves 14 observations for the search"),
        (1000, "data.holdout 1000 is not below the series' 144 observations"),
    ],
)
def test_a_bad_holdout_is_refused_in_one_line_and_nothing_is_written(tmp_path, cli, value, message):
    path = tmp_path / "bad.toml"
    path.write_text(holdout_study_toml("bad", holdout=value))
    status, _, err = cli("create", str(path), "--storage", f"sqlite:///{tmp_path / 'x.db'}")
    assert status == 2
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x.db").exists()


def test_a_season_below_two_is_refused():
    text = holdout_study_toml("s", train_size=None, season=1)
    with pytest.raises(ConfigError, match=r"data\.season must be an integer >= 2; got 1"):
        parse_study_text(text)


def test_a_holdout_that_leaves_fewer_training_rows_than_a_batch_is_refused(tmp_path):
    text = holdout_study_toml("s", train_size=None, holdout=120)
    with pytest.raises(ConfigError, match=r"search\.batch_size 4 does not divide"):
        create_study(parse_study_text(text), text, f"sqlite:///{tmp_path / 'x.db'}")


def test_the_search_never_reads_a_holdout_observation(tmp_path):
    """Two studies whose series differ only in the holdout search identically."""
    changed = tmp_path / "changed.csv"
    lines = AIRLINE.read_text().splitlines()
    head, body = lines[0], lines[1:]
    body[-12:] = [f"{row.split(',')[0]},{int(row.split(',')[1]) * 1000}" for row in body[-12:]]
    changed.write_text("\n".join([head, *body]) + "\n")
    original = tmp_path / "original.csv"
    shutil.copy(AIRLINE, original)
    results = []
    for name, series in (("a", original), ("b", changed)):
        directory = tmp_path / name
        directory.mkdir()
        url = f"sqlite:///{directory / 'tuner.db'}"
        text = holdout_study_toml("air", series)
        create_study(parse_study_text(text), text, url)
        run_worker("air", url, directory / "artifacts", worker_index=0)
        study = optuna.load_study(study_name="air", storage=url)
        trials = [
            (t.params, t.value, t.user_attrs["data_fingerprint"], t.user_attrs["rmses"])
            for t in study.get_trials()
        ]
        results.append((trials, study_attrs(study)["baselines"]["validation"]))
        confirmation = study_attrs(study)["confirmation"]
        results[-1] += (confirmation["configurations"][0]["holdout_rmse"],)
        plots = optuna.artifacts.get_all_artifact_meta(study)  # the study's own, once searched
        assert sorted(meta.filename for meta in plots) == [
            "best_and_baselines.png",
            "validation_holdout.png",
        ]
    assert results[0][0] == results[1][0]  # values, fingerprints, every repeat's RMSE
    assert results[0][1] == results[1][1]  # baselines on the validation window
    assert results[0][2] != results[1][2]  # only the confirmation saw the holdout


def test_the_worker_that_meets_the_budget_confirms_the_best_on_the_holdout(tmp_path, cli):
    url = make_study(tmp_path)
    run_worker("air", url, None, worker_index=0)
    study = optuna.load_study(study_name="air", storage=url)
    confirmation = study_attrs(study)["confirmation"]
    assert confirmation["holdout"] == 12 and confirmation["repeats"] == 3
    first = confirmation["configurations"][0]
    shown = study.user_attrs["holdout_confirmed"]  # the dashboard's short line in its place
    assert shown.startswith(
        f"trial {first['trial']} holdout mean RMSE {first['holdout_rmse']:.4g} "
        f"(validation {first['validation_rmse']:.4g})"
    )
    assert "confirmation" not in study.user_attrs
    records = confirmation["configurations"]
    best = sorted((t for t in study.get_trials() if t.value is not None), key=lambda t: t.value)[:2]
    assert [r["trial"] for r in records] == [t.number for t in best]
    for record, trial in zip(records, best, strict=True):
        assert record["validation_rmse"] == trial.value
        assert len(record["holdout_rmses"]) == 3
        assert record["holdout_rmse"] == pytest.approx(np.mean(record["holdout_rmses"]))
        assert record["holdout_config"]["seed"] != trial.user_attrs["seed"]  # fresh seeds
        assert record["holdout_config"]["test_size"] == 12
    _, out, _ = cli("status", "air", "--storage", url, "--json")
    report = json.loads(out)
    assert [row["trial"] for row in report["confirmed_on_holdout"]] == [r["trial"] for r in records]
    first = report["confirmed_on_holdout"][0]
    assert first["holdout_rmse"] == records[0]["holdout_rmse"]
    assert first["validation_rmse"] == records[0]["validation_rmse"]
    assert report["holdout"] == 12 and report["note"] is None
    assert report["windows"]["holdout"] == {"first": "1960-01", "last": "1960-12"}
    assert report["windows"]["validation"] == {"first": "1959-01", "last": "1959-12"}
    assert {row["baseline"] for row in report["baselines"]} >= {"persistence", "auto_arima"}
    system = study._storage.get_study_system_attrs(study._study_id)
    note = "".join(str(value) for key, value in sorted(system.items()) if "note" in key)
    assert note.index("Confirmed on the holdout") < note.index("**Data**")
    _, text, _ = cli("status", "air", "--storage", url)
    assert text.splitlines()[1].startswith(
        f"confirmed trial {records[0]['trial']}: holdout mean RMSE"
    )


def test_confirmation_happens_once_however_many_ask_at_once(tmp_path, monkeypatch):
    url = make_study(tmp_path)
    run_worker("air", url, None, worker_index=0)
    study = optuna.load_study(study_name="air", storage=url)
    stored = study_attrs(study)["confirmation"]
    from tuner.search import confirmation

    runs: list[int] = []
    real = confirmation._confirm
    monkeypatch.setattr(confirmation, "_confirm", lambda *a: runs.append(1) or real(*a))
    set_study_attr(study, "confirmation", None)  # as if nobody had confirmed yet
    answers: list[dict] = []
    threads = [
        threading.Thread(target=lambda: answers.append(confirm_study("air", url))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(runs) == 2  # top 2, confirmed by one caller only
    assert len(answers) == 3 and all(a == answers[0] for a in answers)
    assert (
        answers[0]["configurations"][0]["holdout_rmses"]
        == (stored["configurations"][0]["holdout_rmses"])
    )


def test_exported_holdout_scores_are_reproduced_by_evaluate_holdout(tmp_path, cli):
    url = make_study(tmp_path)
    run_worker("air", url, None, worker_index=0)
    path = tmp_path / "best.json"
    assert cli("export", "air", "--storage", url, "-o", str(path))[0] == 0
    document = json.loads(path.read_text())
    record = document["configurations"][0]
    assert document["windows"]["holdout"]["first"] == "1960-01"
    assert record["validation_mean_rmse"] == record["mean_rmse"]
    status, out, err = cli("evaluate", str(path), "--holdout", "--json", "--no-progress")
    assert status == 0, err
    assert json.loads(out)["rmses"] == pytest.approx(record["holdout"]["rmses"], abs=1e-9)
    report = tmp_path / "report"
    assert cli("report", "air", "--storage", url, "-o", str(report))[0] == 0
    text = (report / "report.md").read_text()
    assert text.index("Confirmed on the holdout") < text.index("## Best trials")
    assert (report / "validation_holdout.png").read_bytes().startswith(b"\x89PNG")
    assert "Holm-corrected" in text
    status, out, _ = cli("evaluate", str(path), "--json", "--no-progress")
    # the trial was padded with its study's sizes, so to float32 round-off only
    assert json.loads(out)["mean"] == pytest.approx(record["validation_mean_rmse"], rel=1e-6)


@pytest.mark.parametrize("progress", [(), ("--no-progress",)])
def test_confirming_a_study_without_a_complete_trial_is_one_line(tmp_path, cli, progress):
    url = make_study(tmp_path)
    status, _, err = cli("confirm", "air", "--storage", url, *progress)
    assert status == 2
    assert err == (
        "tuner confirm: error: study 'air' has no complete trial to confirm yet; "
        "run its workers first\n"
    )
    assert "confirmation" not in study_attrs(optuna.load_study(study_name="air", storage=url))


def test_a_study_without_holdout_says_its_best_score_selected_it(small_study, cli, tmp_path):
    status, out, _ = cli("status", "small", "--storage", small_study["url"])
    assert "its best score is the one used to select it" in out
    _, out, _ = cli("status", "small", "--storage", small_study["url"], "--json")
    assert "used to select it" in json.loads(out)["note"]
    path = tmp_path / "x.json"
    cli("export", "small", "--storage", small_study["url"], "-o", str(path))
    assert "used to select it" in json.loads(path.read_text())["note"]
    report = tmp_path / "report"
    cli("report", "small", "--storage", small_study["url"], "-o", str(report))
    assert "used to select it" in (report / "report.md").read_text()
    status, _, err = cli("evaluate", str(path), "--holdout")
    assert status == 2 and "has no holdout score" in err


def test_a_holdout_longer_than_the_validation_window_is_confirmed(tmp_path):
    """The holdout runs are keyed by their own preparation, whatever the holdout's size."""
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    text = holdout_study_toml("long", holdout=24)
    create_study(parse_study_text(text), text, url)
    run_worker("long", url, None, worker_index=0)
    confirmation = confirm_study("long", url)
    assert confirmation["holdout"] == 24
    for record in confirmation["configurations"]:
        assert record["holdout_config"]["test_size"] == 24
        assert len(record["holdout_rmses"]) == 3 and np.isfinite(record["holdout_rmse"])
