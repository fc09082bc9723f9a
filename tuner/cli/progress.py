"""Progress bars on stderr, and the callbacks that move them."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from tqdm import tqdm

__all__ = ["deferred_progress_bar", "epoch_bar", "progress_bar"]


@contextlib.contextmanager
def progress_bar(desc: str, unit: str, disabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr, and the ``(done, total)`` callback that moves it."""
    with tqdm(desc=desc, unit=unit, file=sys.stderr, disable=disabled) as bar:

        def show(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        yield show


def deferred_progress_bar(
    bars: contextlib.ExitStack, desc: str, unit: str, disabled: bool
) -> Callable[[int, int], None]:
    """A ``(done, total)`` callback that opens its progress bar on its first call."""
    shown: list[Callable[[int, int], None]] = []

    def show(done: int, total: int) -> None:
        if not shown:
            shown.append(bars.enter_context(progress_bar(desc, unit, disabled)))
        shown[0](done, total)

    return show


@contextlib.contextmanager
def epoch_bar(desc: str, total: int, disabled: bool) -> Iterator[Callable[[int], object]]:
    """A bar of repeat-epochs on stderr, and the engine's progress callback that moves it."""
    with tqdm(total=total, desc=desc, unit="epoch", file=sys.stderr, disable=disabled) as bar:
        yield bar.update
