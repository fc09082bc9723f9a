"""Claiming a slot: its database work does not grow with the study, and grid order holds."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import optuna
import pytest
import sqlalchemy
from optuna.distributions import CategoricalDistribution
from optuna.storages._rdb import models
from optuna.trial import TrialState

from tests.helpers.studies import trials_of, unit_study_toml
from tuner.distributed import worker as worker_module
from tuner.distributed.worker import run_worker
from tuner.search import names
from tuner.search.objective import Objective
from tuner.search.study import create_study
from tuner.search.studyfile import parse_study_text
from tuner.search.windows import StudyData
from tuner.storage.database import Heartbeat, open_storage
from tuner.storage.slots import SlotCounts, count_slots


def create(url: str, text: str) -> optuna.Study:
    create_study(parse_study_text(text), text, url)
    return optuna.load_study(study_name="unit", storage=url)


def fill(study: optuna.Study, finished: int) -> None:
    """Add ``finished`` trials as workers would leave them: mostly complete, some failed
    by themselves (with their reason: a failure without one was failed by heartbeat, and
    a claim would queue its retry)."""
    epochs = CategoricalDistribution([2, 3])
    for number in range(finished):
        state = TrialState.FAIL if number % 7 == 3 else TrialState.COMPLETE
        reason = {"fail_reason": "the fit diverged"} if state == TrialState.FAIL else {}
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                value=None if state == TrialState.FAIL else 1.0 + number,
                params={"epochs": 2 + number % 2},
                distributions={"epochs": epochs},
                user_attrs={"rmses": [1.0, 2.0], "reserved": True, **reason},
            )
        )


@contextlib.contextmanager
def database_work(engine: sqlalchemy.engine.Engine) -> Iterator[dict[str, int]]:
    """Count the SQL statements run on ``engine``, and the rows Optuna's models load."""
    work = {"statements": 0, "rows": 0}

    def statement(*args: object) -> None:
        work["statements"] += 1

    def row(*args: object) -> None:
        work["rows"] += 1

    sqlalchemy.event.listen(engine, "before_cursor_execute", statement)
    sqlalchemy.event.listen(models.BaseModel, "load", row, propagate=True)
    try:
        yield work
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", statement)
        sqlalchemy.event.remove(models.BaseModel, "load", row)


def claim_work(url: str, finished: int) -> dict[str, int]:
    """The database work of one claim in study ``unit`` holding ``finished`` finished trials."""
    text = unit_study_toml(finished + 10)
    fill(create(url, text), finished)
    config = parse_study_text(text)
    storage = open_storage(url, Heartbeat(1, 2, 3))
    study = optuna.load_study(study_name="unit", storage=storage)
    objective = Objective(StudyData.load(config))
    slots = worker_module._Slots(study, storage, url, config, objective)
    with database_work(storage.engine) as work:
        assert slots._claim() == (worker_module._Claim.RAN, 1)
    assert count_slots(storage, study._study_id).finished == finished
    return work


def test_a_claim_does_the_same_database_work_at_10_and_at_500_trials(tmp_path):
    small = claim_work(f"sqlite:///{tmp_path / 'small.db'}", 10)
    large = claim_work(f"sqlite:///{tmp_path / 'large.db'}", 500)
    assert small == large
    assert large["rows"] < 50  # the study attributes, the new reservation: never the 500 trials


def test_the_database_counts_the_slots_as_the_trials_do(storage_url):
    study = create(storage_url, unit_study_toml(20))
    fill(study, 12)
    (failed, *_) = study.get_trials(states=(TrialState.FAIL,))
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)
    retry(study, failed)
    study.enqueue_trial({"epochs": 3})
    counts = count_slots(study._storage, study._study_id)
    assert counts == SlotCounts.of(study.get_trials())
    assert counts.retried == 1 and counts.waiting == 2


def test_a_grid_runs_each_configuration_once_around_one_queued_beforehand(tmp_path):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    study = create(url, unit_study_toml(10, sampler={"kind": "grid"}))
    study.enqueue_trial({"epochs": 3, "regime": "seeded"})  # as 'tuner create' queues the tutorial
    run_worker("unit", url, None, worker_index=0)
    trials = trials_of(url)
    taken = sorted((t.params["epochs"], t.params["regime"]) for t in trials)
    assert taken == [(2, "seeded"), (2, "stateless"), (3, "seeded"), (3, "stateless")]
    assert all(t.state == TrialState.COMPLETE for t in trials)


def test_a_grid_cursor_left_past_the_grid_is_rebuilt_and_the_skipped_configuration_runs(tmp_path):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    study = create(url, unit_study_toml(10, sampler={"kind": "grid"}))
    study.set_user_attr(names.GRID_CURSOR, {"next": 4, "skip": []})
    run_worker("unit", url, None, worker_index=0)
    assert len({(t.params["epochs"], t.params["regime"]) for t in trials_of(url)}) == 4
    assert len(trials_of(url)) == 4


@pytest.mark.parametrize("finished", [0, 3])
def test_a_grid_cursor_skips_configurations_taken_ahead_of_it(finished):
    grid = [{"epochs": epochs} for epochs in range(6)]
    trials = [
        optuna.trial.create_trial(
            state=TrialState.WAITING, system_attrs={"fixed_params": {"epochs": epochs}}
        )
        for epochs in [*range(finished), 4]
    ]
    cursor = worker_module._grid_cursor(grid, trials)
    assert cursor == {"next": finished, "skip": [4]}
    assert worker_module._free_index({"next": 4, "skip": [4, 5]}) == 6
