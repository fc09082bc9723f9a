"""A panel's series forecast in spawned processes: order, reports as tasks finish, failures."""

import time

import pytest

from tuner.exceptions import DivergedError
from tuner.forecasting.panel_pool import map_in_processes


def _square_late(value: int, seconds: float) -> int:
    """``value`` squared, after ``seconds``: a task that finishes out of order."""
    time.sleep(seconds)
    return value * value


def _diverge(value: int) -> int:
    """Fail as a refit whose every configuration diverged."""
    raise DivergedError(f"study 'shop.{value}', rank 3: the forecast is not finite")


def test_results_come_in_the_order_given_and_each_is_reported_as_it_finishes():
    reported = []
    results = map_in_processes(_square_late, [(2, 1.0), (3, 0.0), (4, 0.0)], 2, reported.append)
    assert results == [4, 9, 16]
    assert sorted(reported) == [4, 9, 16]  # in whatever order they finished


def test_a_divergence_in_a_process_is_raised_here_as_the_same_error():
    reported = []
    with pytest.raises(DivergedError) as raised:
        map_in_processes(_diverge, [(7,)], 2, reported.append)
    assert str(raised.value) == "study 'shop.7', rank 3: the forecast is not finite"
    assert reported == []
