"""How many trials a worker trains together in one graph (a pack), and why.

A pack trains several trials on a trial axis beside the repeat axis
(docs/method.md, section 11). What it saves is the graph's fixed cost per
training step: the loop's bookkeeping, which does not grow with the members
trained in the step. What it costs is the arithmetic of the extra members, and
waiting: a pack takes as long as its longest trial, and TPE samples its trials
without each other's results. So small graphs are worth packing, and large ones
are not: once the members' arithmetic outweighs the fixed cost, a pack of ``k``
trials takes about ``k`` times as long as one, and saves nothing.

The rule: pack as many trials as keep one training step's multiply-adds under
``PACK_WORK``, the amount below which ``benchmarks/packing.py`` measured a step's
time as mostly fixed cost on this project's 2-core reference machine (README,
"Study throughput"); at most ``MAX_TRIALS_PER_GRAPH``, and at most a tenth of
the study's budget, since TPE samples a pack's trials without each other's
results and needs rounds of feedback to learn. Every trial is padded to the
study's graph shape, so the shape alone sets the work of a member, whatever the
trial.
"""

from __future__ import annotations

from tuner.engines import GraphShape
from tuner.resources import MAX_TRIALS_PER_GRAPH

__all__ = ["PACK_WORK", "member_step_work", "trials_per_graph"]

PACK_WORK = 200_000
"""Multiply-adds of one training step of a whole pack up to which packing pays."""


def member_step_work(shape: GraphShape, timesteps: int) -> int:
    """Multiply-adds of one repeat's training step in a graph of ``shape``.

    Each time step runs every layer's four gates over every lane: a
    ``(inputs + units) x 4 units`` product per lane and layer.
    """
    inputs = max(shape.lag, 1)
    return timesteps * shape.layers * shape.batch * 4 * shape.units * (inputs + shape.units)


def trials_per_graph(
    shape: GraphShape, timesteps: int, budget: int, setting: int | str = "auto"
) -> int:
    """The trials to pack per graph: ``setting`` if it is a number, else the rule above.

    Args:
        shape: The study's graph shape, with ``repeats`` the repeats of one chunk.
        timesteps: Time steps per row (the lag for the ``timesteps`` framing, else 1);
            the larger of the study's framings.
        budget: The study's trial budget.
        setting: ``workers.trials_per_graph`` from the study file.
    """
    if setting != "auto":
        return int(setting)
    work = max(1, shape.repeats) * member_step_work(shape, timesteps)
    return max(1, min(MAX_TRIALS_PER_GRAPH, budget // 10, PACK_WORK // work))
