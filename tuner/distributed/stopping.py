"""SIGINT and SIGTERM as a request to stop, acted on between steps.

Python runs a signal's handler between any two bytecodes of the main thread, so
a handler that raises can land in the middle of a database call: SQLAlchemy or
the driver then leave the connection unusable, and the interruption turns into
a database error (exit status 2 instead of 130) or splits steps that must go
together (failing a trial and queuing its retry). So the handlers here only
record the signal, and the code that runs checks the record between its steps
(:meth:`StopRequest.check`), and waits in slices that end when it is set
(:meth:`StopRequest.pause`). The record is a plain attribute: a
``threading.Event`` set from a handler can deadlock on its own lock when the
signal lands while the main thread holds it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator

__all__ = ["StopRequest"]

SLICE_SECONDS = 0.1
"""How soon a pause notices a stop request."""


class StopRequest:
    """Whether SIGINT or SIGTERM arrived while :meth:`handling` was in force."""

    def __init__(self) -> None:
        self.number: int | None = None

    @property
    def requested(self) -> bool:
        """Whether a stop was requested."""
        return self.number is not None

    @contextlib.contextmanager
    def handling(self, only_caught: bool = False) -> Iterator[StopRequest]:
        """Within the block, SIGINT and SIGTERM are recorded instead of handled.

        Args:
            only_caught: Record only the signals the caller already handles in
                Python (Ctrl-C's KeyboardInterrupt, the CLI's SIGTERM): what a
                signal means stays the caller's choice, a signal it leaves to the
                operating system (SIGTERM ends a process) or ignores is left alone.

        Outside the main thread, where no handler runs, nothing is recorded. The
        previous handlers are restored at the end of the block.
        """
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {}
        for number in (signal.SIGINT, signal.SIGTERM):
            if not only_caught or callable(signal.getsignal(number)):
                previous[number] = signal.signal(number, self._record)
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def check(self) -> None:
        """Between two steps: stop here if a stop was requested.

        Raises:
            KeyboardInterrupt: A stop was requested.
        """
        if self.number is not None:
            raise KeyboardInterrupt(f"signal {self.number}")

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if a stop is requested meanwhile (then return)."""
        end = time.monotonic() + seconds
        while self.number is None and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, SLICE_SECONDS))

    def _record(self, number: int, frame: object) -> None:
        self.number = number
