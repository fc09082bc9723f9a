"""Dates read faithfully: one day/month order, one regular frequency, or a refusal.

Issue: ``01/02/2017`` written day first was read month first, and a missing month
was accepted, misaligning every seasonal lag after it; both exited 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tuner.data.calendar import future_index, season_of
from tuner.data.dates import date_label
from tuner.data.preparation import Preparation
from tuner.data.series import load_series
from tuner.data.source import DataSource
from tuner.evaluation.config import EvaluationConfig
from tuner.exceptions import DataError
from tuner.method.protocol import Hyperparameters

MONTHS = pd.date_range("2017-01-01", periods=96, freq="MS")


def _csv(path, dates) -> str:
    pd.DataFrame({"date": list(dates), "sales": np.arange(len(dates)) + 100.0}).to_csv(
        path, index=False
    )
    return str(path)


@pytest.mark.parametrize(
    ("written", "mark"), [("%d/%m/%Y", "/"), ("%d.%m.%Y", "."), ("%m/%d/%Y", "/")]
)
def test_an_open_day_month_order_is_refused_with_the_formats_that_settle_it(
    tmp_path, written, mark
):
    path = _csv(tmp_path / "sales.csv", MONTHS.strftime(written))
    with pytest.raises(DataError) as refused:
        load_series(path)
    message = str(refused.value)
    assert "read as day first or as month first" in message
    assert f"'%d{mark}%m{mark}%Y' or '%m{mark}%d{mark}%Y'" in message and "--date-format" in message
    series = load_series(path, date_format=written)
    assert [d.month for d in series.index[:3]] == [1, 2, 3]
    assert season_of(series) == 12


def test_a_day_past_twelve_settles_the_order_by_itself(tmp_path):
    days = pd.date_range("2017-01-13", periods=40, freq="D")
    european = load_series(_csv(tmp_path / "eu.csv", days.strftime("%d/%m/%Y")))
    american = load_series(_csv(tmp_path / "us.csv", days.strftime("%m/%d/%Y")))
    assert list(european.index) == list(american.index) == list(days)


def test_numeric_dates_in_two_orders_are_refused_naming_a_row_of_each(tmp_path):
    dates = [*pd.date_range("2017-01-13", periods=5).strftime("%d/%m/%Y"), "01/20/2017"]
    with pytest.raises(DataError, match=r"data row 1 is '13/01/2017', day first, but data row 6"):
        load_series(_csv(tmp_path / "mixed.csv", dates))


@pytest.mark.parametrize(
    ("dates", "missing", "kind"),
    [
        (MONTHS.delete(50).strftime("%Y-%m-%d"), "2021-03 is missing", "monthly"),
        (MONTHS.delete(50).strftime("%Y-%m"), "2021-03 is missing", "monthly"),
        (
            pd.date_range("2020-01-01", periods=60).delete(9).strftime("%Y-%m-%d"),
            "2020-01-10",
            "daily",
        ),
        (
            pd.bdate_range("2020-01-06", periods=60).delete(3).strftime("%Y-%m-%d"),
            "2020-01-09",
            "business-daily",
        ),
        ([str(y) for y in range(1950, 2000) if y != 1960], "1960 is missing", "annual"),
        (
            pd.date_range("2020-01-01", periods=80, freq="h").delete(30).strftime("%Y-%m-%d %H:%M"),
            "2020-01-02 06:00",
            "hourly",
        ),
    ],
)
def test_a_gap_is_refused_naming_the_first_missing_date(tmp_path, dates, missing, kind):
    with pytest.raises(DataError) as refused:
        load_series(_csv(tmp_path / "gap.csv", dates))
    message = str(refused.value)
    assert missing in message and f"the dates are {kind}" in message
    assert "fill the gap" in message and "\n" not in message


def test_uneven_spacing_is_refused_naming_where_it_breaks(tmp_path):
    dates = ["2020-01-01", "2020-02-01", "2020-02-05", "2020-03-01", "2020-04-01"]
    with pytest.raises(DataError, match=r"not evenly spaced: .* data rows 2 and 3 "):
        load_series(
            _csv(
                tmp_path / "uneven.csv",
                [*dates, *pd.date_range("2020-05-01", periods=20, freq="MS").strftime("%Y-%m-%d")],
            )
        )
    with pytest.raises(DataError, match=r"data rows 3 and 4 \(3, 5\) are 2 apart"):
        load_series(_csv(tmp_path / "ints.csv", [1, 2, 3, 5, 6, 7]))


@pytest.mark.parametrize(
    ("dates", "season", "next_label"),
    [
        (MONTHS.strftime("%Y-%m-%d"), 12, "2025-01-01 00:00:00"),
        ((MONTHS + pd.Timedelta(days=14)).strftime("%Y-%m-%d"), 12, "2025-01"),
        (
            pd.bdate_range("2017-01-01", periods=60, freq="BME").strftime("%Y-%m-%d"),
            12,
            "2022-01-31 00:00:00",
        ),
        (
            pd.date_range("2017-01-01", periods=30, freq="QS").strftime("%Y-%m-%d"),
            4,
            "2024-07-01 00:00:00",
        ),
        (
            pd.bdate_range("2020-01-06", periods=30).strftime("%Y-%m-%d"),
            None,
            "2020-02-17 00:00:00",
        ),
        ([str(y) for y in range(1950, 2000)], None, "2000"),
        (list(range(10, 60, 2)), None, "60"),
    ],
)
def test_a_regular_frequency_gives_the_season_and_the_dates_that_continue_it(
    tmp_path, dates, season, next_label
):
    series = load_series(_csv(tmp_path / "ok.csv", dates))
    assert season_of(series) == season
    assert date_label(future_index(series, 2)[0]) == next_label


def test_a_bad_date_format_and_a_date_it_does_not_read_are_named(tmp_path):
    path = _csv(tmp_path / "sales.csv", MONTHS.strftime("%d/%m/%Y"))
    with pytest.raises(
        DataError, match="data row 1 is '01/01/2017', not a date written as date_format '%Y-%m'"
    ):
        load_series(path, date_format="%Y-%m")
    with pytest.raises(DataError, match="date_format '%Q' is not a date format"):
        load_series(path, date_format="%Q")


def test_date_format_travels_with_a_configuration(tmp_path):
    path = _csv(tmp_path / "sales.csv", MONTHS.strftime("%d/%m/%Y"))
    config = EvaluationConfig(
        DataSource(path, date_format="%d/%m/%Y"),
        Preparation(),
        Hyperparameters(epochs=1, batch_size=1, neurons=1, regime="stateless"),
    )
    settings = config.to_dict()
    assert settings["date_format"] == "%d/%m/%Y"
    assert EvaluationConfig.from_dict(settings) == config
    assert (
        "date_format" not in EvaluationConfig.from_dict({**settings, "date_format": None}).to_dict()
    )
    assert len(EvaluationConfig.from_dict(settings).source.load()) == 96


def test_the_command_line_refuses_the_open_order_in_one_line_and_takes_date_format(cli, tmp_path):
    path = _csv(tmp_path / "sales.csv", MONTHS.strftime("%d/%m/%Y"))
    status, out, err = cli("baseline", "--data", path)
    assert status == 2 and out == "" and err.count("\n") == 1 and "day first" in err
    status, out, err = cli("baseline", "--data", path, "--date-format", "%d/%m/%Y")
    assert status == 0 and "persistence RMSE" in out, err


def test_baseline_says_why_a_seasonal_baseline_is_absent(cli, tmp_path):
    path = _csv(tmp_path / "years.csv", [str(y) for y in range(1950, 2000)])
    status, out, err = cli("baseline", "--data", path, "--test-size", "5")
    assert status == 0, err
    seasonal = next(line for line in out.splitlines() if line.startswith("seasonal_naive"))
    assert seasonal.split()[1:5] == ["n/a"] * 4 and "no season" in seasonal


def test_dates_written_as_whole_numbers_are_pointed_to_date_format(tmp_path):
    days = pd.date_range("2017-01-20", periods=30)
    path = _csv(tmp_path / "compact.csv", days.strftime("%Y%m%d"))
    with pytest.raises(DataError, match=r"\(20170131, 20170201\) are 70 apart.*date_format %Y%m%d"):
        load_series(path)
    assert list(load_series(path, date_format="%Y%m%d").index) == list(days)
