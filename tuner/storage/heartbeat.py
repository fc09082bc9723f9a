"""How a worker's trials prove they are alive: the settings a storage is opened with."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Heartbeat"]


@dataclass(frozen=True)
class Heartbeat:
    """How a worker's trials prove they are alive.

    Attributes:
        interval: Seconds between a running trial's heartbeats.
        grace_period: Seconds without heartbeat after which a trial is failed.
        max_retry: Times such a failed trial is queued again.
    """

    interval: int
    grace_period: int
    max_retry: int
