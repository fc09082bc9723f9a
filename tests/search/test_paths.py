"""Paths that follow their files: a study file's CSV, and an export's series.

Issue: a study file's CSV path was resolved against the current directory, not
the study file; an export run from another directory could not forecast,
although it holds the whole series.
"""

from __future__ import annotations

import json
import shutil

from tests.helpers import ROOT
from tests.helpers.studies import small_study_toml
from tuner.outputs import export
from tuner.search.studyfile import load_study_file

SHAMPOO = ROOT / "tuner" / "data" / "datasets" / "shampoo-sales.csv"


def test_a_csv_path_in_a_study_file_is_read_beside_the_study_file(cli, tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    shutil.copy(SHAMPOO, project / "data" / "sales.csv")
    study_file = project / "sales.toml"
    study_file.write_text(small_study_toml("paths", "data/sales.csv", trials=1))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config, text = load_study_file(study_file)
    assert config.data.series == str(project / "data" / "sales.csv")
    assert 'series = "data/sales.csv"' in text  # stored as written
    url = f"sqlite:///{tmp_path / 'db' / 'tuner.db'}"
    status, _, err = cli("create", str(study_file), "--storage", url)
    assert status == 0, err
    monkeypatch.chdir(tmp_path)  # a worker, or an export, elsewhere still finds the series
    status, _, err = cli("worker", "paths", "--storage", url, "--no-artifacts", "--quiet")
    assert status == 0, err
    status, _, err = cli("export", "paths", "--storage", url, "-o", "best.json")
    assert status == 0, err
    document = json.loads((tmp_path / "best.json").read_text())
    assert document["series"]["name"] == str(project / "data" / "sales.csv")


def test_a_missing_csv_beside_a_study_file_is_named_as_resolved(cli, tmp_path, monkeypatch):
    study_file = tmp_path / "project" / "x.toml"
    study_file.parent.mkdir()
    study_file.write_text(small_study_toml("x", "nope.csv"))
    monkeypatch.chdir(tmp_path)
    status, _, err = cli("create", str(study_file), "--storage", f"sqlite:///{tmp_path}/t.db")
    assert status == 2 and str(tmp_path / "project" / "nope.csv") in err


def test_an_export_whose_csv_is_not_here_forecasts_from_the_series_it_holds(
    cli, exported, tmp_path, monkeypatch, caplog
):
    document = json.loads(exported.read_text())
    for record in document["configurations"]:
        record["config"]["data"] = "/nowhere/shampoo.csv"
        record.pop("checksum")
        record["checksum"] = export._checksum(record)
    moved = tmp_path / "copied" / "best.json"
    moved.parent.mkdir()
    moved.write_text(json.dumps(document))
    monkeypatch.chdir(moved.parent)
    status, out, err = cli("forecast", "best.json", "--horizon", "2", "--repeats", "1")
    assert status == 0, err
    said = "/nowhere/shampoo.csv is not here; forecasting from the series the export holds (36"
    assert said in caplog.text
    assert "0003-12" not in out and "0004-01" in out and "0004-02" in out
