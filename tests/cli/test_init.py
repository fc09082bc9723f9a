"""``tuner init DATA.csv``: a first study file for your own data, checked before it is written."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tuner.search.studyfile import load_study_file

MONTHS = pd.date_range("2017-01-01", periods=96, freq="MS")


def _csv(path, dates, values=None):
    values = np.linspace(100, 300, len(dates)) if values is None else values
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"Month": list(dates), "Sales": values}).to_csv(path, index=False)
    return path


def test_init_writes_a_study_file_that_tuner_create_accepts_from_anywhere(
    cli, tmp_path, monkeypatch
):
    data = _csv(tmp_path / "data" / "my sales (2024).csv", MONTHS.strftime("%d/%m/%Y"))
    monkeypatch.chdir(tmp_path / "data")
    status, out, err = cli("init", data.name, "--date-format", "%d/%m/%Y", "-o", "../s.toml")
    assert status == 0, err
    assert out.splitlines() == [
        f"wrote ../s.toml: {data.name}: 96 observations from 2017-01-01 00:00:00 to "
        "2024-12-01 00:00:00, season 12; validation 12, holdout 12",
        "next: tuner run ../s.toml",
    ]
    config, text = load_study_file(tmp_path / "s.toml")
    assert config.name == "my-sales-2024"
    assert config.data.series == str(data)
    assert 'series = "data/my sales (2024).csv"   # relative to this file' in text
    assert (config.data.date_column, config.data.value_column) == ("Month", "Sales")
    assert config.data.date_format == "%d/%m/%Y" and config.data.test_size == 12
    assert config.search.preset == "auto" and config.search.written() == {}
    monkeypatch.chdir(tmp_path)
    status, _, err = cli("create", "s.toml", "--storage", f"sqlite:///{tmp_path}/t.db")
    assert status == 0, err


def test_init_refuses_what_run_would_refuse_and_writes_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _csv(tmp_path / "dayfirst.csv", MONTHS.strftime("%d/%m/%Y"))
    status, out, err = cli("init", "dayfirst.csv")
    assert status == 2 and out == "" and err.count("\n") == 1 and "day first" in err
    _csv(tmp_path / "gap.csv", MONTHS.delete(40).strftime("%Y-%m-%d"))
    status, _, err = cli("init", "gap.csv")
    assert status == 2 and "2020-05 is missing" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dayfirst.csv", "gap.csv"]


def test_init_never_writes_over_a_file(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _csv(tmp_path / "sales.csv", MONTHS.strftime("%Y-%m"))
    (tmp_path / "sales.toml").write_text("mine")
    status, _, err = cli("init", "sales.csv")
    assert status == 2 and "sales.toml exists" in err
    assert (tmp_path / "sales.toml").read_text() == "mine"


def test_a_series_without_a_season_gets_a_window_it_can_spare(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _csv(tmp_path / "annual.csv", [str(year) for year in range(1970, 2010)])
    status, out, err = cli("init", "annual.csv")
    assert status == 0, err
    config, _ = load_study_file(tmp_path / "annual.toml")
    assert config.data.test_size == 8  # 12 wanted, a fifth of 40 allowed
    assert "no season" in out
