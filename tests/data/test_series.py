import numpy as np
import pandas as pd
import pytest

from tuner.data.dates import date_label
from tuner.data.series import load_series
from tuner.exceptions import DataError


def test_shampoo_is_built_in_with_year_month_periods(shampoo):
    assert len(shampoo) == 36
    assert shampoo.values[0] == 266.0
    assert shampoo.values[-1] == 646.9
    assert isinstance(shampoo.index, pd.PeriodIndex)
    assert (shampoo.index[0].year, shampoo.index[0].month) == (1, 1)
    assert (shampoo.index[-1].year, shampoo.index[-1].month) == (3, 12)


def test_airline_is_built_in():
    airline = load_series("airline")
    assert len(airline) == 144
    assert airline.values[:2].tolist() == [112.0, 118.0]
    assert str(airline.index[0]) == "1949-01"
    assert airline.value_column == "Passengers"


def test_csv_columns_by_name_and_position(write_csv):
    path = write_csv("id,when,sales\n1,2020-01-05,1.5\n2,2020-01-06,2.5\n3,2020-01-07, 4\n")
    by_name = load_series(path, date_column="when", value_column="sales")
    by_position = load_series(path, date_column="1", value_column="2")
    np.testing.assert_array_equal(by_name.values, [1.5, 2.5, 4.0])
    np.testing.assert_array_equal(by_position.values, by_name.values)
    assert isinstance(by_name.index, pd.DatetimeIndex)
    assert by_name.index[2] == pd.Timestamp("2020-01-07")


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("m,v\n1-01,1\n1-02,abc\n", {}, "column 'v', data row 2 is 'abc', not a finite number"),
        ("m,v\n1-01,1\n1-02,\n1-03,3\n", {}, "column 'v', data row 2 is empty"),
        ("m,v\n1-01,1\n1-02,inf\n", {}, "data row 2 is 'inf', not a finite number"),
        ("m,v\n1-01,1\n1-13,2\n", {}, "data row 2 has month 13; months run from 1 to 12"),
        ("m,v\n1-01,1\nyesterday,2\n", {}, "data row 2 is 'yesterday', not a date"),
        ("m,v\n1-01,1\n2020-01-05,2\nyesterday,3\n", {}, "data row 3 is 'yesterday', not a date"),
        (
            "m,v\n1-01,1\n2020-01-05,2\n",
            {},
            "data row 1 is '1-01', a year-month period, but data row 2 is '2020-01-05', a date; "
            "write the whole column in one form",
        ),
        ("m,v\n1-01,1\n", {"value_column": "sales"}, "value_column 'sales' is not a column"),
        ("v\n1\n2\n", {}, "needs a date column and a value column; found 1 column(s)"),
        ("", {}, "the file is empty"),
    ],
)
def test_bad_csv_is_refused_with_the_reason(write_csv, text, options, expected):
    path = write_csv(text)
    with pytest.raises(DataError) as error:
        load_series(path, **options)
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_file_names_the_built_ins(tmp_path):
    with pytest.raises(DataError, match=r"neither a built-in series \(shampoo, airline\)"):
        load_series(str(tmp_path / "nope.csv"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("m,v\n", "has a header row but no data rows"),
        (
            "m,v\n1-02,1\n1-01,2\n1-03,3\n",
            "dates must increase: data row 2 (0001-01) comes before data row 1 (0001-02); "
            "sort the file by date",
        ),
        ("m,v\n1-01,1\n1-01,2\n1-02,3\n", "data row 2 repeats the date of data row 1 (0001-01)"),
        (
            "d,v\n2020-01-02,1\n2020-01-01,2\n",
            "dates must increase: data row 2 (2020-01-01 00:00:00) comes before data row 1",
        ),
        ("m;v\n1-01;1.200,5\n", "data row 1 is '1.200,5', not a finite number"),
        ('m,v\n1-01,"1,2"\n', "data row 1 is '1,2', not a finite number"),
    ],
    ids=["header-only", "out-of-order", "duplicated", "out-of-order-dates", "eu-thousands", "1,2"],
)
def test_unusable_files_are_refused_with_one_line(write_csv, text, expected):
    with pytest.raises(DataError) as error:
        load_series(write_csv(text))
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("\ufeffm,v\n1-01,1\n1-02,2\n", [1.0, 2.0]),
        ("m;v\n1-01;1,5\n1-02;2\n1-03;-0,25\n", [1.5, 2.0, -0.25]),
        ('m,v\n1-01,"1,200"\n1-02,"2,300.5"\n1-03,"-1,000,000"\n', [1200.0, 2300.5, -1e6]),
        ("m\tv\n1-01\t1\n1-02\t2\n", [1.0, 2.0]),
    ],
    ids=["utf8-bom", "semicolon-decimal-comma", "thousands-separators", "tab"],
)
def test_common_spreadsheet_exports_are_read(write_csv, text, values):
    series = load_series(write_csv(text))
    assert series.values.tolist() == values
    assert series.index[0] == pd.Period(year=1, month=1, freq="M")
    assert date_label(series.index[0]) == "0001-01"


def test_date_labels_read_the_same_under_every_pandas_version(shampoo):
    assert date_label(shampoo.index[0]) == "0001-01"
    assert date_label(shampoo.index[-1]) == "0003-12"
    assert date_label(load_series("airline").index[0]) == "1949-01"
    assert date_label(pd.Timestamp("2020-01-05")) == "2020-01-05 00:00:00"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"date,value\n2020-01,100\x00.25\n2020-02,3\n", "line 2 holds a NUL byte"),
        (b"date,val\x00ue\n2020-01,1\n2020-02,3\n", "line 1 holds a NUL byte"),
        (b"date,value,value\n2020-01,1,2\n2020-02,3,4\n", "names column 'value' twice"),
        ("date,value\n2020-01,1\n".encode("utf-16"), "is UTF-16 text; re-save it as UTF-8"),
        ("date,valeur\n2020-01,1,5\n".encode("latin-1").replace(b"1,5", b"\xe91"), "0xe9"),
    ],
)
def test_a_csv_that_cannot_be_read_faithfully_is_refused(tmp_path, content, expected):
    path = tmp_path / "series.csv"
    path.write_bytes(content)
    with pytest.raises(DataError) as raised:
        load_series(str(path), value_column="value" if b"value,value" in content else None)
    assert expected in str(raised.value) and "\n" not in str(raised.value)
