"""What packs and single configurations are padded to (tuner/evaluation/padding.py).

The rule trades padded arithmetic against compiles: units and layers follow the
pack, rows and ``features`` lags round up so that series of a panel share graphs
(docs/method.md, section 11).
"""

import dataclasses

import optuna
import pandas as pd
import pytest

from tests.helpers.studies import study_toml
from tuner.data.series import load_series
from tuner.engines import FastEngine, GraphShape
from tuner.evaluation.padding import pack_shape, single_shape
from tuner.method.protocol import Hyperparameters
from tuner.search.objective import Objective
from tuner.search.studyfile import parse_study_text
from tuner.search.windows import StudyData

STUDY = GraphShape(repeats=3, rows=96, lag=13, units=32, batch=2, layers=2)


def hp(neurons: int, layers: int = 1, framing: str = "features") -> Hyperparameters:
    return Hyperparameters(
        epochs=5, batch_size=1, neurons=neurons, regime="seeded", framing=framing, layers=layers
    )


@pytest.mark.parametrize(("neurons", "units"), [(1, 8), (8, 8), (9, 16), (17, 32), (32, 32)])
def test_a_pack_pads_its_units_to_a_power_of_two_from_8_within_the_study(neurons, units):
    assert pack_shape(STUDY, [hp(neurons)], trials=1).units == units


def test_a_study_of_few_units_pads_to_its_own_largest():
    small = GraphShape(rows=32, lag=2, units=5, batch=1, layers=1)
    assert pack_shape(small, [hp(1)], trials=1).units == 5


def test_a_pack_takes_its_largest_member_and_keeps_the_study_rows_and_batch():
    shape = pack_shape(STUDY, [hp(3, layers=1), hp(12, layers=2)], trials=4)
    assert (shape.units, shape.layers, shape.trials) == (16, 2, 4)
    assert (shape.rows, shape.batch, shape.repeats) == (96, 2, 3)


def test_a_features_lag_above_8_rounds_up_to_a_multiple_of_8_and_a_timesteps_lag_does_not():
    assert pack_shape(STUDY, [hp(4)], trials=1).lag == 16
    assert pack_shape(STUDY, [hp(4), hp(4, framing="timesteps")], trials=1).lag == 13
    assert single_shape(40, 9, hp(4, framing="timesteps")).lag == 9
    assert single_shape(40, 9, hp(4)).lag == 16


@pytest.mark.parametrize("lag", [1, 3, 8])
def test_a_pack_keeps_a_lag_up_to_8_and_a_configuration_alone_rounds_it_up(lag):
    assert pack_shape(dataclasses.replace(STUDY, lag=lag), [hp(4)], trials=1).lag == lag
    assert single_shape(40, lag, hp(4)).lag == 8


def test_one_configuration_alone_pads_rows_lag_and_units():
    shape = single_shape(70, 12, hp(10, layers=2))
    assert (shape.rows, shape.lag, shape.units, shape.layers) == (96, 16, 16, 2)
    assert shape.batch == 0, "its own batch size"


def test_series_of_nearby_lengths_share_their_graph(tmp_path):
    """Two series whose rows differ by a few, in the same 32-row step, trace one graph."""
    airline, objectives = load_series("airline"), []
    for length in (40, 44):
        csv = tmp_path / f"airline{length}.csv"
        months = [str(p) for p in airline.index[:length]]
        pd.DataFrame({"Month": months, "y": airline.values[:length]}).to_csv(csv, index=False)
        text = study_toml(
            f"near{length}",
            trials=2,
            repeats=2,
            seed=1,
            data={"series": str(csv), "test_size": 4, "holdout": 0},
            search={"epochs": [2], "neurons": [3], "batch_size": [1], "lag": [2]},
        )
        objectives.append(Objective(StudyData.load(parse_study_text(text))))
    rows = [max(p.n_train + p.n_test for p in o.data.search.values()) for o in objectives]
    assert rows[0] != rows[1] and objectives[0].shape == objectives[1].shape
    engine = FastEngine()
    before = engine.tracing_count()
    for objective in objectives:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        study.optimize(objective, n_trials=2)
    assert engine.tracing_count() - before == 1
