"""SIGTERM as Ctrl-C for the commands that run trials, from their first instant.

Kubernetes sends SIGTERM on every scale-down, eviction and rollout. A worker (or
``tuner run``) it reaches must fail and queue its running trials and exit 130
with one line, whenever the signal lands: while the command still imports its
libraries, too, where the operating system's default would end it by the signal
(exit 143). Within a worker's run the signal is only recorded and acted on
between two steps (:mod:`tuner.distributed.stopping`); outside it, it raises
KeyboardInterrupt, which the command line turns into exit status 130.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

__all__ = ["sigterm_interrupts"]


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM means what Ctrl-C does: KeyboardInterrupt.

    The previous handler is restored on exit.
    """
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(number: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {number}")
