"""Output directories that are someone's work: refused where writing would harm, swapped whole.

An output directory is resolved to a real path first, and refused when it is the
current directory or one of its parents, a symbolic link, a file, or a directory
holding anything but an earlier output of the same kind (its marker file, and
only names of that kind). The new output is written beside it and swapped in by
renames, so a failure at any point, a crash included, leaves the earlier output
whole and no partial directory. A forecast and a panel's forecast are both
written so (tuner.forecasting.files, tuner.forecasting.panel_files).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import glob
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tuner._checks import require_path
from tuner.exceptions import ConfigError

__all__ = ["OutputKind", "check_output", "replace_directory"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutputKind:
    """What an output directory of one kind holds.

    Attributes:
        what: Its name in messages (``forecast``).
        marker: The file every such directory holds: without it, a directory is not
            an earlier output, and nothing in it is replaced.
        names: Every name such a directory may hold; anything else is someone else's.
    """

    what: str
    marker: str
    names: re.Pattern[str]


def replace_directory(
    directory: str | Path, kind: OutputKind, write: Callable[[Path], None]
) -> Path:
    """Write an output of ``kind`` into ``directory`` with ``write``, all or nothing.

    The files are written into a new directory beside it, which then takes the
    earlier forecast's place in one atomic exchange of the two names (Linux's
    ``renameat2``), so at every instant, a crash included, ``directory`` holds one
    whole forecast, the earlier or the new. The earlier one is then removed;
    what a crash leaves beside it (``.NAME-swap-*``) is removed by the next write.
    Where the exchange is not available, two renames swap them, and a failure
    between them puts the earlier forecast back.

    Raises:
        ConfigError: ``directory`` is refused (see :func:`check_output`), or it
            cannot be written (the reason is given).
    """
    target = check_output(directory, kind)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(target)
        # made with mkdir, not mkdtemp: its 0700 would hide the forecast from others
        staging = target.parent / f"{_swap_prefix(target)}{uuid.uuid4().hex[:8]}"
        staging.mkdir()
    except OSError as error:
        raise ConfigError(
            f"cannot write the output directory {str(target)!r}: {error.strerror}"
        ) from None
    try:
        write(staging)
        _swap(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # the new files, or after the swap the old
    if staging.exists():
        logger.warning("the earlier %s could not be removed; it is in %s", kind.what, staging)
    return target


def _swap_prefix(target: Path) -> str:
    """The hidden name prefix of a forecast's staging directories, beside ``target``."""
    return f".{target.name}-swap-"


def _remove_leftovers(target: Path) -> None:
    """Remove what an interrupted earlier write left beside ``target``.

    A staging directory outlives its write only when the process died: before
    the exchange it holds a partial new forecast, after it the replaced one, and
    ``target`` is whole either way, so neither is anyone's work.
    """
    for leftover in target.parent.glob(f"{glob.escape(_swap_prefix(target))}*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _swap(staging: Path, target: Path) -> None:
    """Put ``staging`` at ``target``; an earlier forecast there ends up at ``staging``."""
    if not target.exists():
        os.rename(staging, target)
    elif not _exchange(staging, target):
        _swap_by_renames(staging, target)


def _swap_by_renames(staging: Path, target: Path) -> None:
    """The swap without an atomic exchange: ``target`` is briefly missing in between."""
    aside = staging.with_name(f"{staging.name}-old")
    os.rename(target, aside)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(aside, target)
        raise
    os.rename(aside, staging)


def _exchange(first: Path, second: Path) -> bool:
    """Exchange two paths atomically with Linux's ``renameat2(RENAME_EXCHANGE)``.

    Written by hand because neither ``os`` nor any library exposes the call.

    Returns:
        ``False`` where the call does not exist (not Linux, an old kernel or C
        library, a file system without it); nothing was changed then.

    Raises:
        OSError: The exchange failed for another reason.
    """
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is None:
        return False
    at_cwd, rename_exchange = -100, 2
    if renameat2(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second), rename_exchange) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(error, os.strerror(error), str(second))


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, or ``None`` where there is none to load."""
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def check_output(directory: str | Path, kind: OutputKind) -> Path:
    """Refuse, before any work, an output directory that must not or cannot be written.

    Returns:
        The directory as a resolved, absolute path.

    Raises:
        ConfigError: ``directory`` is no path or empty, a symbolic link, the current directory
            or one of its parents, a file, or a directory holding anything but an
            earlier forecast's files; or its parent cannot be created or written.
    """
    require_path("output directory", directory)
    given = Path(directory)
    if given.is_symlink():
        raise ConfigError(
            f"output directory {str(directory)!r} is a symbolic link; give the directory itself"
        )
    target = given.resolve()
    here = Path.cwd().resolve()
    if target == here or target in here.parents:
        raise ConfigError(
            f"output directory {str(directory)!r} is the current directory or one of its "
            f"parents, which a {kind.what} would replace; give a new directory"
        )
    if target.exists():
        _check_earlier_output(target, str(directory), kind)
    parent = next(p for p in target.parents if p.exists())
    if not parent.is_dir():
        reason = "Not a directory"
    elif not os.access(parent, os.W_OK | os.X_OK):
        reason = "Permission denied"
    else:
        return target
    raise ConfigError(f"cannot write the output directory {str(directory)!r}: {reason}")


def _check_earlier_output(target: Path, given: str, kind: OutputKind) -> None:
    """Refuse an existing path that is not an earlier output's directory of ``kind``, naming why."""
    if not target.is_dir():
        raise ConfigError(f"output directory {given!r} is a file; give a directory path")
    if not (target / kind.marker).is_file():
        raise ConfigError(
            f"output directory {given!r} exists and holds no earlier {kind.what} "
            f"({kind.marker}); give a new directory or an earlier {kind.what}'s"
        )
    others = sorted(p.name for p in target.iterdir() if not kind.names.fullmatch(p.name))
    if others:
        raise ConfigError(
            f"output directory {given!r} holds an earlier {kind.what} and other files "
            f"({', '.join(others[:3])}), which replacing it would delete; move them, or "
            "give another directory"
        )
