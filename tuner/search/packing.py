"""How many trials a worker trains together in one graph (a pack), and why.

A pack trains several trials on a trial axis beside the repeat axis
(docs/method.md, section 11). Its loops run as long as its longest member's, and
every member computes at every step, active or masked. So, per training step, a
pack of ``k`` costs the graph's fixed cost (the loop's bookkeeping, which does not
grow with the members) plus ``k`` members' arithmetic; and it takes as many steps
as the largest of its trials' epoch and batch counts, phase by phase.

Packing pays when the fixed cost dominates and the trials are alike: a grid
sweep at fixed epochs and batch size (the tutorials' sweeps) runs several times
faster in packs. It does not pay for trials sampled from wide ranges of epochs
and batch sizes, as the shipped studies' are: a pack of four such trials runs
about as long as its slowest trial alone, so it saves nothing
(``benchmarks/packing.py``; docs/benchmarks.md, "Study throughput").

The rule: estimate, from the study's own configurations, the time per trial of
packs of 1, 2, 4, 8 and 16, with the cost model above, and take the fastest if it
saves at least ``MIN_SAVING``; else 1. The configurations are the grid's, in the
order workers take them, or for TPE draws from the space (a pack's TPE trials
are sampled without each other's results, so a TPE study packs at most a tenth
of its budget, keeping rounds of feedback). Every trial is padded to the
study's graph shape, so that shape alone sets a member's arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tuner.engines import GraphShape
from tuner.method.limits import MAX_TRIALS_PER_GRAPH
from tuner.method.protocol import WalkForward
from tuner.search.studyfile import IntChoice, IntRange

__all__ = [
    "FIXED_STEP_WORK",
    "MIN_SAVING",
    "member_step_work",
    "pack_batches",
    "pack_time",
    "study_schedules",
    "trials_per_graph",
]

FIXED_STEP_WORK = 5_000
"""A training step's fixed cost, in the multiply-adds that would take as long.

Fitted to ``benchmarks/packing.py``'s packs of identical trials on the 2-core
reference machine: a pack of 8 took 3.8 times one trial's time in the shampoo
study's graph (2,400 multiply-adds per member step: fixed cost 3,500) and 5.4
times in airline's (12,700: fixed cost 7,700)."""
MIN_SAVING = 0.2
"""A pack must be expected to save a fifth of the time per trial, or trials run alone:
the estimate is rough, and a pack delays its trials' results."""
PACK_SIZES = (1, 2, 4, 8, 16)
DRAWS = 64
"""Configurations drawn from a TPE study's space to estimate its packs' times."""


def member_step_work(shape: GraphShape, timesteps: int) -> int:
    """Multiply-adds of one trial's training step in a graph of ``shape``, all its repeats.

    Each time step runs every layer's four gates over every lane of every repeat:
    a ``(inputs + units) x 4 units`` product per lane and layer.
    """
    inputs = max(shape.lag, 1)
    gates = 4 * shape.units * (inputs + shape.units)
    return max(shape.repeats, 1) * timesteps * shape.layers * shape.batch * gates


def pack_batches(schedules: Sequence[WalkForward]) -> int:
    """Training batches of a pack: each phase runs its members' largest epochs and batches."""
    phases = [schedule.training_phases() for schedule in schedules]
    total = 0
    for phase in range(max(len(p) for p in phases)):
        members = [
            (epochs, rows // s.batch_size)
            for p, s in zip(phases, schedules, strict=True)
            if phase < len(p)
            for epochs, rows in [p[phase]]
        ]
        total += max(epochs for epochs, _ in members) * max(batches for _, batches in members)
    return total


def pack_time(schedules: Sequence[WalkForward], member_work: int, width: int) -> float:
    """A pack's training time in the cost model's units (multiply-adds)."""
    return pack_batches(schedules) * (FIXED_STEP_WORK + width * member_work)


def trials_per_graph(
    schedules: Sequence[WalkForward],
    member_work: int,
    limit: int,
    setting: int | str = "auto",
) -> int:
    """The trials to pack per graph: ``setting`` if it is a number, else the rule above.

    Args:
        schedules: The study's trials' schedules, in the order workers would take
            them (see :func:`study_schedules`).
        member_work: :func:`member_step_work` of the study's graph.
        limit: The largest pack the study allows (its budget, or a tenth of it for TPE).
        setting: ``workers.trials_per_graph`` from the study file.
    """
    if setting != "auto":
        return int(setting)
    alone = np.mean([pack_time([schedule], member_work, 1) for schedule in schedules])
    best, best_time = 1, alone
    for width in PACK_SIZES[1:]:
        if width > min(limit, MAX_TRIALS_PER_GRAPH, len(schedules)):
            break
        packs = [schedules[i : i + width] for i in range(0, len(schedules) - width + 1, width)]
        per_trial = np.mean([pack_time(pack, member_work, width) for pack in packs]) / width
        if per_trial < best_time:
            best, best_time = width, per_trial
    return best if best_time <= (1 - MIN_SAVING) * alone else 1


def study_schedules(
    epochs: IntChoice,
    batch_sizes: Sequence[int],
    update_epochs: Sequence[int],
    grid: list[dict[str, object]] | None,
    n_train: int,
    n_test: int,
) -> list[WalkForward]:
    """The schedules of a study's trials: the grid's in order, or ``DRAWS`` random draws.

    The draws only estimate packs' times (uniform in each dimension, epochs on the
    log scale if the range says so), so NumPy's generator, seeded, is enough.

    Args:
        epochs: The study's epochs dimension.
        batch_sizes: The batch sizes it samples.
        update_epochs: The update epochs it samples.
        grid: The grid's configurations in order, for a grid study; else ``None``.
        n_train: Training rows (the most any preparation has).
        n_test: Test rows.
    """
    if grid is not None:
        drawn = [(p["epochs"], p["batch_size"], p["update_epochs"]) for p in grid]
    else:
        rng = np.random.default_rng(0)
        drawn = list(
            zip(
                _draw_epochs(rng, epochs),
                rng.choice(batch_sizes, DRAWS),
                rng.choice(update_epochs, DRAWS),
                strict=True,
            )
        )
    return [
        WalkForward(n_train, n_test, int(batch), int(epochs), int(updates))
        for epochs, batch, updates in drawn
    ]


def _draw_epochs(rng: np.random.Generator, epochs: IntChoice) -> np.ndarray:
    if not isinstance(epochs, IntRange):
        return rng.choice(epochs, DRAWS)
    if epochs.log:
        return np.rint(np.exp(rng.uniform(np.log(epochs.low), np.log(epochs.high), DRAWS)))
    return rng.integers(epochs.low, epochs.high, DRAWS, endpoint=True)
