"""Progress bars on stderr, and the callbacks that move them."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from tqdm import tqdm

__all__ = ["STARTING_WORKERS", "deferred_progress_bar", "epoch_bar", "progress_bar"]

STARTING_WORKERS = "workers starting: loading TensorFlow, compiling"
"""What a study's trial bar waits on before its first trial ends (about 10 s)."""


@contextlib.contextmanager
def progress_bar(
    desc: str, unit: str, disabled: bool, starting: str | None = None
) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr, and the ``(done, total)`` callback that moves it.

    Args:
        desc: What the bar counts.
        unit: The unit of one step.
        disabled: Show nothing.
        starting: What happens before the first step is done (``desc`` says it in
            brackets until then), so a bar that sits at 0 says why.
    """
    with tqdm(desc=desc, unit=unit, file=sys.stderr, disable=disabled) as bar:

        def show(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            waiting = starting is not None and done == 0
            bar.set_description_str(f"{desc} ({starting})" if waiting else desc, refresh=False)
            bar.refresh()

        yield show


def deferred_progress_bar(
    bars: contextlib.ExitStack,
    desc: str,
    unit: str,
    disabled: bool,
    starting: str | None = None,
) -> Callable[[int, int], None]:
    """A ``(done, total)`` callback that opens its progress bar on its first call.

    Nothing is printed until then, so an error raised before any progress is the
    only line a command prints. The arguments are :func:`progress_bar`'s.
    """
    shown: list[Callable[[int, int], None]] = []

    def show(done: int, total: int) -> None:
        if not shown:
            shown.append(bars.enter_context(progress_bar(desc, unit, disabled, starting)))
        shown[0](done, total)

    return show


@contextlib.contextmanager
def epoch_bar(desc: str, total: int, disabled: bool) -> Iterator[Callable[[int], object]]:
    """A bar of repeat-epochs on stderr, and the engine's progress callback that moves it."""
    with tqdm(total=total, desc=desc, unit="epoch", file=sys.stderr, disable=disabled) as bar:
        yield bar.update
