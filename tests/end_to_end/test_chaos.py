"""The chaos harness, small: a study under SIGKILL, SIGTERM, SIGSTOP, a PostgreSQL stop
and a SIGTERMed ``tuner run`` loses, double-counts and leaves behind no trial.

benchmarks/chaos.py runs the same harness (tests/helpers/chaos.py) at full size.
"""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from tests.helpers.chaos import account, run_chaos
from tests.helpers.pgcluster import require_server_binaries


def _trial(number: int, state: TrialState, retries: list[int] | None = None, **user_attrs):
    """A frozen trial ``number``; ``retries``: the retry_history of a retry."""
    system_attrs = {} if retries is None else {"failed_trial": retries[0], "retry_history": retries}
    trial = optuna.trial.create_trial(
        state=state,
        value=1.0 if state == TrialState.COMPLETE else None,
        params={"x": 1},
        distributions={"x": CategoricalDistribution([1])},
        user_attrs=user_attrs,
        system_attrs=system_attrs,
    )
    trial.number = number
    return trial


def test_a_retried_failure_hands_its_slot_to_its_retry():
    trials = [
        _trial(0, TrialState.COMPLETE),
        _trial(1, TrialState.FAIL),
        _trial(2, TrialState.FAIL, retries=[1]),
        _trial(3, TrialState.COMPLETE, retries=[1, 2]),
        _trial(4, TrialState.FAIL, fail_reason="the fit diverged"),
    ]
    counted = account(trials, budget=3)
    assert (counted.finished, counted.lost, counted.double_counted) == (3, 0, 0)
    assert counted.failed_unretried == 0 and counted.retries == 2


def test_two_counting_trials_in_one_slot_are_double_counted():
    trials = [
        _trial(0, TrialState.COMPLETE),  # finished, yet retried as well
        _trial(1, TrialState.COMPLETE, retries=[0]),
        _trial(2, TrialState.FAIL),
        _trial(3, TrialState.COMPLETE, retries=[2]),
        _trial(4, TrialState.COMPLETE, retries=[2]),  # the same failure retried twice
    ]
    counted = account(trials, budget=3)
    assert counted.finished == 4 and counted.double_counted == 2 and counted.lost == 0
    assert len(counted.details) == 2


def test_an_interrupted_trial_never_queued_again_is_found():
    trials = [
        _trial(0, TrialState.FAIL, fail_reason="interrupted"),
        _trial(1, TrialState.COMPLETE),
    ]
    trials[0].system_attrs = {"requeue": True}
    counted = account(trials, budget=2)
    assert counted.failed_unretried == 1 and counted.finished == 2


def test_unfinished_slots_and_unretried_failures_are_found():
    trials = [
        _trial(0, TrialState.COMPLETE),
        _trial(1, TrialState.FAIL),  # interrupted and never queued again
        _trial(2, TrialState.FAIL),
        _trial(3, TrialState.WAITING, retries=[2]),
    ]
    counted = account(trials, budget=4)
    assert (counted.finished, counted.lost, counted.waiting) == (2, 2, 1)
    assert counted.failed_unretried == 1


@pytest.mark.slow
def test_a_study_under_chaos_loses_and_double_counts_nothing(tmp_path):
    require_server_binaries()
    result = run_chaos(
        30,
        3,
        kills=1,
        terms=1,
        kill_every=2,
        seconds=420,
        repeats=2,
        seed=0,
        workdir=tmp_path,
    )
    print(result.report())  # shown when the test fails
    assert not result.skipped, "a chaos step could not happen before the study finished"
    assert result.kills == 1 and result.terms == 1
    assert result.trials.finished == 30
    assert result.counts() == dict.fromkeys(result.counts(), 0)
