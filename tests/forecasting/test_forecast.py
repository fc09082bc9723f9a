"""tuner forecast: refit on the whole series, recursive forecast, saved models, the slot rule."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers.commands import doc_block, run_tuner
from tests.helpers.training import engine_task
from tuner.data.calendar import future_index
from tuner.data.dates import date_label
from tuner.data.preparation import Preparation, prepare
from tuner.data.series import load_series
from tuner.data.source import DataSource
from tuner.engines import EngineTask, KerasEngine
from tuner.evaluation.recursive import SlotStepper, training_rows
from tuner.evaluation.runner import EvaluationConfig
from tuner.forecasting.refit import forecast
from tuner.method.protocol import Hyperparameters


def test_shampoo_forecast_from_an_export(cli, exported, small_study, tmp_path):
    out = tmp_path / "forecast"
    status, said, err = cli("forecast", str(exported), "--horizon", "12", "-o", str(out))
    assert status == 0, err
    assert "refitting" in err  # the progress bar
    assert "0 new since the export" in said
    table = pd.read_csv(out / "forecast.csv", dtype={"date": str})
    repeats = json.loads(exported.read_text())["configurations"][0]["repeats"]
    assert list(table.columns) == [
        "date",
        *(f"repeat_{r}" for r in range(repeats)),
        "mean",
        "lo-80",
        "hi-80",
        "lo-95",
        "hi-95",
        "q05",
        "q95",
    ]
    # the study scored one step ahead: its residuals calibrate the first step's intervals only
    residuals = np.abs(json.loads(exported.read_text())["configurations"][0]["residuals"])
    assert residuals.shape == (12, 1)
    width = np.sort(residuals[:, 0])[10]  # the 11th of 12: ceil(13 x 0.8)
    assert table["hi-80"][0] - table["mean"][0] == pytest.approx(width)
    assert table["mean"][0] - table["lo-80"][0] == pytest.approx(width)
    assert table["hi-95"][0] - table["mean"][0] == pytest.approx(residuals.max())
    assert table[["lo-80", "hi-95"]][1:].isna().all().all()
    assert "the 95% interval needs 19 origins" in said
    series = load_series(small_study["csv"])
    last = series.index[-1]
    assert list(table["date"]) == [
        f"{(last + k).year:04d}-{(last + k).month:02d}" for k in range(1, 13)
    ]
    values = table[[f"repeat_{r}" for r in range(repeats)]].to_numpy()
    assert np.isfinite(values).all()
    assert np.allclose(table["mean"], values.mean(axis=1))
    assert (table["q05"] <= table["mean"]).all() and (table["mean"] <= table["q95"]).all()
    assert (out / "forecast.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.glob("*.keras")) == [
        f"repeat_{r}.keras" for r in range(repeats)
    ]
    preparation = json.loads((out / "preparation.json").read_text())
    assert preparation["last_observations"][-1] == series.values[-1]
    assert preparation["forecast_dates"] == list(table["date"])
    _reproduce_first_step_in_a_fresh_process(out, values[0])
    readme = subprocess.run(
        [sys.executable, "-c", doc_block("docs/guide.md", "<!-- keras-example -->")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert readme.returncode == 0, readme.stderr
    assert float(readme.stdout.strip().splitlines()[-1]) == pytest.approx(values[0, 0], rel=1e-5)


FIRST_STEP = """
import json, sys
import numpy as np
import keras

out = sys.argv[1]
prep = json.load(open(out + "/preparation.json"))
lag, m, lam = prep["lag"], prep["seasonal_difference"], prep["transform"]["lambda"]
forward = {"none": lambda y: y, "log": np.log, "boxcox": lambda y: (y**lam - 1) / lam}
inverse = {"none": lambda z: z, "log": np.exp, "boxcox": lambda z: (lam * z + 1) ** (1 / lam)}
low, high = np.array(prep["scaler"]["data_min"]), np.array(prep["scaler"]["data_max"])
width = np.where(high > low, high - low, 1.0)
z = forward[prep["transform"]["name"]](np.array(prep["last_observations"]))
s = z[m:] - z[:-m] if m else z
level = z[-1] + (z[-m] - z[-m - 1] if m else 0.0)
inputs = (np.diff(s)[-lag:] - low[:lag]) / width[:lag] * 2 - 1
firsts = []
for entry in prep["models"]:
    model = keras.models.load_model(out + "/" + entry["file"])
    x = inputs.reshape([1, *prep["input_shape"]]).astype("float32")
    states = [np.array(entry[name][0], dtype="float32")[None] for name in prep["state_inputs"]]
    scaled = float(np.asarray(model.predict([x, *states], verbose=0)[0])[0, 0])
    difference = (scaled + 1) / 2 * width[-1] + low[-1]
    firsts.append(float(inverse[prep["transform"]["name"]](level + difference)))
print(json.dumps(firsts))
"""


def _reproduce_first_step_in_a_fresh_process(out: Path, expected: np.ndarray) -> None:
    result = subprocess.run(
        [sys.executable, "-c", FIRST_STEP, str(out)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr
    firsts = json.loads(result.stdout.strip().splitlines()[-1])
    assert firsts == pytest.approx(list(expected), rel=1e-5)


@pytest.mark.parametrize("transform", ["log", "boxcox"])
def test_a_transformed_seasonally_differenced_forecast_is_reproduced_by_plain_keras(
    tmp_path, transform
):
    from tuner.forecasting.files import write_forecast

    airline = load_series("airline")
    config = EvaluationConfig(
        source=DataSource("airline"),
        preparation=Preparation(lag=3, transform=transform, seasonal_difference=12),
        hyperparameters=Hyperparameters(epochs=4, batch_size=4, neurons=2, regime="seeded"),
        repeats=2,
    )
    result = forecast(airline, config, horizon=15)
    assert result.values.shape == (2, 15) and np.isfinite(result.values).all()
    assert (result.values > 0).all()  # transformed back: no log-scale numbers
    assert result.refit.n_rows == 128  # 144 - 1 - 12 (seasonal) - 3 (lag), whole batches
    out = write_forecast(result, tmp_path / "forecast")
    preparation = json.loads((out / "preparation.json").read_text())
    assert preparation["seasonal_difference"] == 12
    assert preparation["transform"]["name"] == transform
    assert len(preparation["last_observations"]) == 3 + 1 + 12
    _reproduce_first_step_in_a_fresh_process(out, result.values[:, 0])


def test_the_refit_fits_lambda_on_its_own_training_rows(shampoo):
    config = EvaluationConfig(
        source=DataSource("shampoo"),
        preparation=Preparation(transform="boxcox", train_size=20),
        hyperparameters=Hyperparameters(epochs=1, batch_size=4, neurons=1, regime="seeded"),
        repeats=1,
    )
    fitted = forecast(shampoo, config, horizon=1).refit
    from tuner.data.preparation import ValueTransform

    # 20 rows at lag 1 use 22 observations: each row spans two differences
    assert fitted.transform == ValueTransform.fit("boxcox", shampoo.values[-22:])
    assert fitted.transform != ValueTransform.fit("boxcox", shampoo.values)


@pytest.mark.parametrize("batch_size", [2, 4])
@pytest.mark.parametrize("regime", ["seeded", "never_reset", "seeded_reset_forecast", "stateless"])
def test_stepping_slot_by_slot_reproduces_the_keras_walk_forward(shampoo_20, regime, batch_size):
    """The slot rule, fed the actual inputs, gives the reference engine's forecasts."""
    task = engine_task(shampoo_20, regime, batch_size=batch_size, repeats=1, neurons=3)
    task = dataclasses.replace(task, keep_final=True)
    result = KerasEngine().run(task)
    hp = task.hyperparameters
    carry = hp.state_regime.stateful and not hp.state_regime.reset_after_forecast
    stepper = SlotStepper(
        weights=result.final_weights[0],
        states=result.states[0, 0].astype(np.float32),  # the state before the first step
        carry_state=carry,
        framing=hp.framing,
    )
    stepped = [stepper.step(row[:-1]) for row in shampoo_20.test]
    assert stepped == pytest.approx(list(result.forecasts[0]), abs=1e-5)
    if carry:  # the walk's final state is the stepper's, slot for slot
        assert np.allclose(stepper.states, result.final_states[0], atol=1e-5)


def test_refit_rows_are_the_newest_whole_batches(shampoo):
    config = EvaluationConfig(
        source=DataSource("shampoo"),
        preparation=Preparation(train_size=None),
        hyperparameters=Hyperparameters(epochs=1, batch_size=4, neurons=1, regime="seeded"),
    )
    rows = training_rows(shampoo, config)
    assert len(rows) == 32  # 34 supervised rows, the oldest 2 dropped
    assert np.allclose(rows[-1], np.diff(shampoo.values)[-2:])


def test_dates_continue_a_daily_series(write_csv):
    days = pd.date_range("2024-01-01", periods=30, freq="D")
    path = write_csv("day,value\n" + "".join(f"{d.date()},{i}\n" for i, d in enumerate(days)))
    assert list(map(date_label, future_index(load_series(path), 2))) == [
        "2024-01-31 00:00:00",
        "2024-02-01 00:00:00",
    ]


def test_a_forecast_of_a_constant_series_stays_constant(write_csv):
    path = write_csv("month,value\n" + "".join(f"2000-{m:02d},5\n" for m in range(1, 13)))
    config = EvaluationConfig(
        source=DataSource(path),
        preparation=Preparation(test_size=2),
        hyperparameters=Hyperparameters(epochs=2, batch_size=1, neurons=1, regime="stateless"),
        repeats=2,
    )
    result = forecast(load_series(path), config, horizon=3)
    assert result.dates == ["2001-01", "2001-02", "2001-03"]
    assert np.isfinite(result.values).all()


def test_a_grown_series_is_accepted_and_a_changed_past_refused(
    cli, exported, small_study, tmp_path
):
    csv = small_study["csv"]
    original = csv.read_text()
    out = tmp_path / "grown"
    try:
        csv.write_text(original.rstrip("\n") + '\n"4-01",700.0\n')
        status, said, err = cli(
            "forecast", str(exported), "--horizon", "2", "--repeats", "1", "-o", str(out)
        )
        assert status == 0, err
        assert "1 new since the export" in said
        assert pd.read_csv(out / "forecast.csv")["date"].tolist() == ["0004-02", "0004-03"]
        csv.write_text(original.replace("266.0", "267.0"))
        changed = tmp_path / "changed"
        status, said, err = cli("forecast", str(exported), "-o", str(changed))
    finally:
        csv.write_text(original)
    assert status == 2 and said == ""
    assert "past changed since the export: the first differing date is 0001-01" in err
    assert err.count("\n") == 1
    assert not changed.exists()


def _damage_series(document: dict) -> None:
    document["series"]["values"][0] += 1


def _drop_series(document: dict) -> None:
    del document["series"]  # as exported before the series was recorded


def _edit_epochs(document: dict) -> None:
    document["configurations"][0]["config"]["epochs"] += 1


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("--horizon", "0"), "--horizon must be an integer >= 1; got 0"),
        (("--horizon", "1000000000"), "--horizon must be an integer <= 1,000; got 1,000,000,000"),
        (("--horizon", "two"), "argument --horizon: invalid int value: 'two'"),
        (("--rank", "7"), "rank must be one of 1; got 7"),
        (("--repeats", "0"), "--repeats must be an integer >= 1; got 0"),
        (("--level", "80", "--level", "100"), "--level must be an integer <= 99; got 100"),
        ((_damage_series,), "the exported series was edited or damaged"),
        ((_edit_epochs,), "configuration of rank 1 was edited or damaged"),
        ((_drop_series,), "the export has no series to check the data against"),
        (("-o", "{file}/out"), "cannot write the output directory"),
        (("-o", "{occupied}"), "exists and holds no earlier forecast"),
        (("--study", "small"), "give an exported configurations FILE or --study NAME"),
    ],
)
def test_bad_forecast_input_is_one_line_and_writes_nothing(cli, exported, tmp_path, argv, expected):
    (tmp_path / "file").write_text("")
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "notes.txt").write_text("mine")
    path, arguments = str(exported), []
    for arg in argv:
        if callable(arg):
            document = json.loads(exported.read_text())
            arg(document)
            path = str(tmp_path / "edited.json")
            Path(path).write_text(json.dumps(document))
        else:
            arguments.append(arg.format(file=tmp_path / "file", occupied=tmp_path / "occupied"))
    before = sorted(p.name for p in tmp_path.iterdir())
    status, said, err = cli("forecast", path, *arguments)
    assert status == 2, err
    assert said == "" and err.count("\n") == 1 and expected in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "occupied" / "notes.txt").read_text() == "mine"


def test_forecast_from_a_study_by_rank(small_study, tmp_path):
    out = tmp_path / "by-study"
    result = run_tuner(
        "forecast",
        "--study",
        "small",
        "--rank",
        "2",
        "--horizon",
        "3",
        "--repeats",
        "2",
        "--storage",
        small_study["url"],
        "-o",
        str(out),
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out / "forecast.csv")
    assert len(table) == 3 and {"repeat_0", "repeat_1"} <= set(table.columns)
    preparation = json.loads((out / "preparation.json").read_text())
    assert preparation["config"]["repeats"] == 2


def test_an_export_keeps_its_series(exported, small_study):
    document = json.loads(exported.read_text())
    series = load_series(small_study["csv"])
    assert document["series"]["values"] == list(series.values)
    assert len(document["series"]["dates"]) == len(series)


@pytest.mark.parametrize("layers", [1, 2])
def test_the_one_step_model_is_what_the_forecast_steps(shampoo, layers):
    """The saved Keras model and the stepper agree over a whole recursive forecast."""
    from tuner.forecasting.files import one_step_model

    config = EvaluationConfig(
        source=DataSource("shampoo"),
        preparation=Preparation(lag=2, train_size=20),
        hyperparameters=Hyperparameters(
            epochs=3,
            batch_size=2,
            neurons=2,
            regime="never_reset",
            framing="timesteps",
            layers=layers,
        ),
        repeats=1,
    )
    result = forecast(shampoo, config, horizon=5)
    fitted = result.refit
    model = one_step_model(fitted.weights[0], fitted)
    states = fitted.states[0].copy()
    assert states.shape == (layers, 2, 2, 2)
    values = list(shampoo.values[-3:])
    for step in range(5):
        slot = step % 2
        d = np.diff(values[-3:])
        x = (d * fitted.scaler.scale_[:-1] + fitted.scaler.min_[:-1]).reshape(1, 2, 1)
        slot_states = [part[slot][None] for layer in states for part in layer]
        y, *next_states = model.predict([x, *slot_states], verbose=0)
        for index, state in enumerate(next_states):
            states[index // 2, index % 2, slot] = state[0]
        values.append(values[-1] + (y[0, 0] - fitted.scaler.min_[-1]) / fitted.scaler.scale_[-1])
    assert values[3:] == pytest.approx(list(result.values[0]), rel=1e-5)


def test_a_two_layer_forecast_is_reproduced_from_its_files_in_a_fresh_process(shampoo, tmp_path):
    """Stacked layers end to end: refit, recursive forecast, saved models, preparation.json."""
    from tuner.forecasting.files import write_forecast

    config = EvaluationConfig(
        source=DataSource("shampoo"),
        preparation=Preparation(lag=2, train_size=20),
        hyperparameters=Hyperparameters(
            epochs=4, batch_size=4, neurons=3, regime="seeded", layers=2, learning_rate=0.01
        ),
        repeats=2,
    )
    result = forecast(shampoo, config, horizon=3)
    assert result.values.shape == (2, 3) and np.isfinite(result.values).all()
    assert result.refit.states.shape == (2, 2, 2, 4, 3)
    assert np.any(result.refit.states[:, 1]), "seeding leaves the second layer a state"
    out = write_forecast(result, tmp_path / "stacked")
    preparation = json.loads((out / "preparation.json").read_text())
    assert preparation["layers"] == 2
    assert preparation["state_inputs"] == ["h", "c", "h_1", "c_1"]
    assert preparation["config"]["learning_rate"] == 0.01
    _reproduce_first_step_in_a_fresh_process(out, result.values[:, 0])


def test_prepare_rows_match_training_rows_on_the_tutorial_split(shampoo, shampoo_20):
    config = EvaluationConfig(
        source=DataSource("shampoo"),
        preparation=Preparation(train_size=20),
        hyperparameters=Hyperparameters(epochs=1, batch_size=4, neurons=1, regime="seeded"),
    )
    trimmed = prepare(shampoo, Preparation(test_size=1, train_size=19))
    rows = training_rows(shampoo, config)
    assert len(rows) == 20
    assert np.allclose(trimmed.scaler.inverse_transform(trimmed.train)[-19:], rows[:19])


@pytest.mark.parametrize("regime", ["seeded", "never_reset", "stateless_shuffle"])
def test_both_engines_end_a_refit_with_the_same_weights_and_states(shampoo_20, regime):
    """A task without test rows (a refit) keeps its final weights and state alike in both."""
    from tuner.engines import FastEngine
    from tuner.method.protocol import repeat_setups

    hp = Hyperparameters(epochs=3, batch_size=2, neurons=2, regime=regime)
    task = EngineTask(
        train=shampoo_20.train,
        test=np.zeros((0, 2)),
        hyperparameters=hp,
        setups=repeat_setups(4, 2, hp, 1),
        keep_final=True,
    )
    fast, keras = FastEngine().run(task), KerasEngine().run(task)
    assert fast.forecasts.shape == keras.forecasts.shape == (2, 0)
    assert fast.final_states.shape == (2, 1, 2, 2, 2)
    assert np.allclose(fast.final_states, keras.final_states, atol=1e-5)
    for mine, theirs in zip(fast.final_weights, keras.final_weights, strict=True):
        for a, b in zip(mine.as_list(), theirs.as_list(), strict=True):
            assert np.allclose(a, b, atol=1e-5)
    moved = fast.final_weights[0].kernel - task.setups[0].weights.kernel
    assert np.abs(moved).max() > 0  # training changed the weights


def test_an_export_without_its_series_file_still_exports(cli, small_study, tmp_path, caplog):
    csv = small_study["csv"]
    moved = csv.with_suffix(".away")
    csv.rename(moved)
    try:
        status, text, _ = cli("export", "small", "--storage", small_study["url"])
    finally:
        moved.rename(csv)
    assert status == 0
    assert "series" not in json.loads(text)
    assert "the export holds no series" in caplog.text
