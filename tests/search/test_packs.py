"""Packs: a worker trains several trials in one graph, and each keeps its own result.

A worker asks for up to ``workers.trials_per_graph`` trials at once, trains them
together and tells each its own value (docs/method.md, section 11). These tests
hold every trial of a pack to its evaluation alone, keep the budget exact, prune
and fail per trial, and queue a whole interrupted pack again.
"""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from tests.helpers.studies import study_toml, trials_of
from tuner.distributed.worker import run_worker
from tuner.engines import FastEngine, GraphShape
from tuner.evaluation.config import load_and_prepare
from tuner.evaluation.runner import EvaluationConfig, evaluate
from tuner.exceptions import ConfigError, TunerError
from tuner.method.limits import MAX_TRIALS_PER_GRAPH
from tuner.method.protocol import WalkForward
from tuner.search import objective as objective_module
from tuner.search.objective import Objective
from tuner.search.packing import (
    member_step_work,
    pack_batches,
    pack_time,
    trials_per_graph,
)
from tuner.search.study import create_study
from tuner.search.studyfile import parse_study_text
from tuner.storage.slots import SlotCounts


def pack_study_toml(
    trials: int, pruning: bool = False, grid: bool = False, per_graph: int | str = 3
) -> str:
    """Study ``unit`` in packs of ``per_graph``, pruning on or off, TPE or grid."""
    search = {
        "epochs": [2, 3, 5],
        "neurons": [1, 2],
        "batch_size": [2, 4],
        "regimes": ["seeded", "stateless_shuffle", "reset_epoch"],
        "update_epochs": [0, 1],
    }
    sampler = None
    if grid:  # one regime and no updates: 12 configurations
        search |= {"regimes": ["seeded"], "update_epochs": [0]}
        sampler = {"kind": "grid"}
    return study_toml(
        "unit",
        trials=trials,
        repeats=4,
        timeout=300,
        search=search,
        sampler=sampler,
        pruner={"enabled": pruning, "checkpoints": 2, "n_startup_trials": 0},
        workers={"heartbeat_interval": 1, "grace_period": 3, "trials_per_graph": per_graph},
    )


@pytest.fixture
def pack_study(tmp_path):
    """Create study ``unit`` with a budget, pruning on or off, TPE or grid; return its URL."""

    def create(trials: int, pruning: bool = False, grid: bool = False) -> str:
        url = f"sqlite:///{tmp_path / 'tuner.db'}"
        text = pack_study_toml(trials, pruning, grid)
        create_study(parse_study_text(text), text, url)
        return url

    return create


@pytest.fixture
def pack_sizes(monkeypatch) -> list[int]:
    """The number of trials of every pack the worker runs."""
    sizes: list[int] = []
    real = Objective.run_pack

    def run_pack(self, trials):
        sizes.append(len(trials))
        return real(self, trials)

    monkeypatch.setattr(Objective, "run_pack", run_pack)
    return sizes


def test_every_trial_of_a_pack_scores_what_it_scores_alone_and_the_budget_is_exact(
    pack_study, pack_sizes
):
    url = pack_study(5)
    assert run_worker("unit", url, None, worker_index=0) == 5
    assert pack_sizes == [3, 2]
    trials = trials_of(url)
    assert SlotCounts.of(trials).complete == 5 and len(trials) == 5
    for trial in trials:
        config = EvaluationConfig.from_dict(trial.user_attrs["config"])
        alone = evaluate(load_and_prepare(config), config)
        np.testing.assert_allclose(trial.user_attrs["rmses"], alone.rmses, rtol=1e-4)
        assert trial.value == pytest.approx(alone.mean, rel=1e-4)
    configs = {str(sorted(t.params.items())) for t in trials}
    assert len(configs) == 5  # the pack's trials were sampled apart


def test_a_pruned_trial_leaves_its_pack_and_the_others_finish(pack_study, monkeypatch, pack_sizes):
    url = pack_study(3, pruning=True)
    chunk_sizes: list[int] = []
    real_run_many = FastEngine.run_many

    def run_many(self, tasks, progress=None):
        chunk_sizes.append(len(tasks))
        return real_run_many(self, tasks, progress)

    monkeypatch.setattr(FastEngine, "run_many", run_many)
    monkeypatch.setattr(optuna.Trial, "should_prune", lambda trial: trial.number == 1)
    run_worker("unit", url, None, worker_index=0)
    trials = trials_of(url)
    assert pack_sizes == [3]
    complete, pruned = TrialState.COMPLETE, TrialState.PRUNED
    assert [t.state for t in trials] == [complete, pruned, complete]
    reports = trials[1].intermediate_values
    assert list(reports) == [2] and trials[1].value == reports[2]
    assert chunk_sizes == [3, 2]  # the pruned trial is not trained in the second chunk
    for trial in (trials[0], trials[2]):
        config = EvaluationConfig.from_dict(trial.user_attrs["config"])
        alone = evaluate(load_and_prepare(config), config)
        assert trial.value == pytest.approx(alone.mean, rel=1e-4)


def test_a_pack_that_raises_fails_each_of_its_trials_with_the_reason(pack_study, monkeypatch):
    url = pack_study(3)

    def broken(*args, **kwargs):
        raise MemoryError("Unable to allocate 90.8 GiB for an array")

    monkeypatch.setattr(objective_module, "evaluate_many", broken)
    with pytest.raises(TunerError, match="stopped after 3 trials in a row failed"):
        run_worker("unit", url, None, worker_index=0)  # 3 in a row: the default limit
    trials = trials_of(url)
    assert [t.state for t in trials] == [TrialState.FAIL] * 3
    assert {t.user_attrs["fail_reason"] for t in trials} == {
        "MemoryError: Unable to allocate 90.8 GiB for an array"
    }


def test_an_interrupted_pack_queues_every_trial_again(pack_study, monkeypatch):
    url = pack_study(4)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(objective_module, "evaluate_many", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_worker("unit", url, None, worker_index=0)
    counts = SlotCounts.of(trials_of(url))
    assert counts.finished == 0 and counts.running == 0
    assert counts.retried == 3 and counts.waiting == 3
    monkeypatch.undo()
    assert run_worker("unit", url, None, worker_index=1) == 4
    counts = SlotCounts.of(trials_of(url))
    assert counts.complete == 4 and counts.waiting == counts.running == 0


def test_a_grid_study_in_packs_runs_every_configuration_once(pack_study, pack_sizes):
    url = pack_study(100, grid=True)
    run_worker("unit", url, None, worker_index=0)
    trials = trials_of(url)
    points = [(t.params["epochs"], t.params["neurons"], t.params["batch_size"]) for t in trials]
    assert len(points) == 12 and len(set(points)) == 12  # 3 epochs x 2 units x 2 batch sizes
    assert sum(pack_sizes) == 12 and max(pack_sizes) == 3


def test_the_pack_rule_packs_alike_trials_in_small_graphs_and_nothing_else():
    small = GraphShape(repeats=5, rows=32, lag=1, units=5, batch=4, layers=1)
    large = GraphShape(repeats=15, rows=200, lag=12, units=64, batch=12, layers=3)
    small_work, large_work = member_step_work(small, 1), member_step_work(large, 1)
    sweep = [WalkForward(24, 12, 4, 50, 0)] * 40  # a tutorial-like sweep at fixed epochs
    assert trials_per_graph(sweep, small_work, limit=1000) == 16
    assert trials_per_graph(sweep, small_work, limit=5) == 4  # never past the limit
    assert trials_per_graph(sweep, large_work, limit=1000) == 1
    assert trials_per_graph(sweep, large_work, limit=1000, setting=4) == 4
    # trials of very different lengths: a pack runs as long as its slowest member
    rng = np.random.default_rng(1)
    mixed = [
        WalkForward(24, 12, int(b), int(e), 0)
        for b, e in zip(rng.choice([1, 2, 3, 4, 6, 12], 40), rng.integers(1, 1000, 40), strict=True)
    ]
    assert trials_per_graph(mixed, small_work, limit=1000) == 1


def test_a_packs_time_follows_its_slowest_member_phase_by_phase():
    short, long = WalkForward(24, 12, 4, 10, 0), WalkForward(24, 12, 1, 30, 2)
    assert pack_batches([long]) > pack_batches([short])
    # slower in every phase, the long member sets the pack's time; the short one adds none
    assert pack_batches([short, long]) == pack_batches([long])
    assert pack_time([short, long], 100, 2) == pack_time([long, long], 100, 2)
    # each slower in a different way: the pack takes the worst of both in every phase
    more_epochs = WalkForward(24, 12, 4, 30, 0)
    more_batches, updates = WalkForward(24, 12, 1, 10, 0), WalkForward(24, 12, 4, 10, 2)
    for other in (more_batches, updates):
        slowest_alone = max(pack_batches([more_epochs]), pack_batches([other]))
        assert pack_batches([more_epochs, other]) > slowest_alone
    # every member computes at every step, yet a pack shares the loop's fixed cost
    alone = pack_time([short], 100, 1)
    assert alone < pack_time([short, short], 100, 2) < 2 * alone


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "workers.trials_per_graph must be"),
        ("many", 'workers.trials_per_graph must be an integer from 1 to 16 or "auto"'),
        (MAX_TRIALS_PER_GRAPH + 1, "workers.trials_per_graph must be"),
    ],
)
def test_a_bad_trials_per_graph_is_refused_in_one_line(value, message):
    with pytest.raises(ConfigError, match=message) as error:
        parse_study_text(pack_study_toml(3, per_graph=value))
    assert "\n" not in str(error.value)
