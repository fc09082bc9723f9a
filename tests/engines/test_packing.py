"""Packs: several trials trained in one graph run give each trial's results alone.

The fast engine trains a pack's trials on a member axis (trials times repeats),
each member active only while its own counts say so (docs/method.md, section 11).
These tests hold a pack's results to each task run alone and to the Keras
reference, count the graphs packs trace, and check that the test would catch a
member that trains past its own epochs.
"""

import dataclasses
import functools

import numpy as np
import pytest

from tests.helpers.training import TOLERANCE, assert_same, engine_task
from tuner.engines import GraphShape, _fast

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

PACK = GraphShape(repeats=2, rows=12, lag=2, units=3, batch=4, layers=2, trials=4)
"""Four trials of two repeats, covering every task below."""

MIX = [
    # regime, lag, neurons, layers, epochs, update_epochs, batch_size, learning_rate, repeats
    ("seeded", 1, 2, 1, 3, 2, 2, 0.001, 2),
    ("stateless_shuffle", 2, 3, 2, 1, 0, 1, 0.01, 1),
    ("reset_epoch_and_forecast", 2, 1, 1, 2, 1, 4, 0.005, 2),
    ("never_reset", 1, 3, 2, 4, 2, 2, 0.002, 1),
]
"""Tasks that differ in every per-task number: regime, lag (so rows and training
rows), units, layers, epochs, update epochs, batch size, learning rate and repeats."""


def _mixed_tasks(tiny, framing="features", shape=PACK, **options):
    tasks = []
    for index, (regime, lag, neurons, layers, epochs, update, batch, rate, repeats) in enumerate(
        MIX
    ):
        task = engine_task(
            tiny[lag],
            regime,
            epochs=epochs,
            batch_size=batch,
            update_epochs=update,
            framing=framing,
            repeats=repeats,
            seed=20 + index,
            neurons=neurons,
            layers=layers,
            learning_rate=rate,
        )
        tasks.append(dataclasses.replace(task, shape=shape, **options))
    return tasks


def _alone(task):
    """The task with nothing to pad to: its own sizes, a pack of one."""
    return dataclasses.replace(task, shape=GraphShape())


@pytest.mark.parametrize("framing", ["features", pytest.param("timesteps", marks=pytest.mark.slow)])
def test_a_pack_gives_each_task_its_results_alone_and_the_keras_ones(engines, tiny, framing):
    fast, keras_engine = engines
    tasks = _mixed_tasks(tiny, framing)
    packed = fast.run_many(tasks)
    assert len(packed) == len(tasks)
    for task, result in zip(tasks, packed, strict=True):
        assert_same(result, fast.run(_alone(task)))
    for index in (0, 1):
        assert_same(packed[index], keras_engine.run(_alone(tasks[index])))


def test_a_pack_keeps_each_tasks_final_weights_and_states(engines, tiny):
    fast, _ = engines
    tasks = _mixed_tasks(tiny, keep_final=True)
    for task, result in zip(tasks, fast.run_many(tasks), strict=True):
        alone = fast.run(_alone(task))
        assert len(result.final_weights) == len(task.setups)
        for mine, reference in zip(result.final_weights, alone.final_weights, strict=True):
            for a, b in zip(mine.as_list(), reference.as_list(), strict=True):
                np.testing.assert_allclose(a, b, rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(result.final_states, alone.final_states, rtol=0, atol=TOLERANCE)


def test_a_short_pack_is_padded_and_its_results_come_back_in_order(engines, tiny):
    fast, _ = engines
    tasks = _mixed_tasks(tiny)
    full = fast.run_many(tasks)
    short = fast.run_many([tasks[3], tasks[0]])
    assert len(short) == 2
    assert_same(short[0], full[3], tolerance=1e-6)
    assert_same(short[1], full[0], tolerance=1e-6)
    assert_same(fast.run(tasks[2]), full[2], tolerance=1e-6)


def test_packs_of_one_shape_trace_one_graph_and_share_its_compile_time(engines, tiny):
    fast, _ = engines
    shape = dataclasses.replace(PACK, units=4, trials=3)  # no other test traces it
    tasks = _mixed_tasks(tiny, shape=shape)
    before = fast.tracing_count()
    counted = []
    first = fast.run_many(tasks[:3], counted.append)
    assert fast.tracing_count() - before == 1
    assert sum(counted) == sum(len(t.setups) * t.schedule.total_epochs for t in tasks[:3])
    shares = [result.compile_seconds for result in first]
    assert shares[0] > 0 and shares == [shares[0]] * 3, "the compile time is split evenly"
    for pack in ([tasks[3], tasks[1], tasks[0]], tasks[2:], [tasks[1]]):
        results = fast.run_many(pack)
        assert all(result.compile_seconds == 0 for result in results)
    fast.run(tasks[3])
    assert fast.tracing_count() - before == 1


def test_a_member_that_trained_past_its_epochs_would_be_caught(engines, tiny, monkeypatch):
    """Negative control: with every member active in every batch, short members change."""
    fast, _ = engines
    tasks = _mixed_tasks(tiny)
    exact = fast.run_many(tasks)
    train_step = _fast._TrialGraph._train_step

    def leaky(self, weights, optimizer, state, rows, active):
        return train_step(self, weights, optimizer, state, rows, self.tf.ones_like(active))

    monkeypatch.setattr(_fast._TrialGraph, "_train_step", leaky)
    monkeypatch.setattr(
        _fast, "_trial_function", functools.cache(_fast._trial_function.__wrapped__)
    )
    leaked = fast.run_many(tasks)
    # No task has both the most epochs (task 3) and the most batches (task 1): each
    # would train past its own counts.
    for index in range(len(tasks)):
        moved = np.abs(leaked[index].forecasts - exact[index].forecasts).max()
        assert moved > 100 * TOLERANCE, f"task {index} trained past its counts unseen"


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ({"framing": "timesteps"}, "framing, got 'features', 'timesteps'"),
        ({"record_states": False}, "record_states, got True, False"),
        ({"keep_final": True}, "keep_final, got False, True"),
    ],
)
def test_a_pack_that_mixes_what_shapes_the_graph_is_refused(engines, tiny, changed, message):
    fast, _ = engines
    first, second = _mixed_tasks(tiny)[:2]
    framing = changed.pop("framing", None)
    if framing:
        hp = dataclasses.replace(second.hyperparameters, framing=framing)
        second = dataclasses.replace(second, hyperparameters=hp)
    second = dataclasses.replace(second, **changed)
    with pytest.raises(ValueError) as error:
        fast.run_many([first, second])
    assert str(error.value) == f"tasks: every task of a pack must have the same {message}"


def test_an_empty_pack_is_refused(engines):
    fast, _ = engines
    with pytest.raises(ValueError) as error:
        fast.run_many([])
    assert str(error.value) == "tasks: at least one task is needed, got none"
