"""Where a worker keeps its compiled XLA programs, so the next process needn't compile.

Every worker process compiles the study's graph once (docs/method.md, section
11). TensorFlow's persistent XLA cache (``TF_XLA_FLAGS=
--tf_xla_persistent_cache_directory=DIR``) writes each compiled program to a file
keyed by the program's fingerprint, and a later process that builds the same
program loads it instead of compiling: the second worker of a study, a rerun, and
the next study of the same shape. TensorFlow writes each entry to a temporary file
and renames it, so workers sharing a directory never read half an entry.

The directory is resolved here: ``TUNER_COMPILE_CACHE`` (a directory, or ``off``),
else this user's cache directory (``$XDG_CACHE_HOME/lstm-tuner/xla-cache``, by
default ``~/.cache/lstm-tuner/xla-cache``), so a study in a fresh directory
starts from the programs every earlier study compiled. Entries go into a
subdirectory named for the TensorFlow version and the processor (its
architecture and instruction-set flags), because a
compiled program is native code for both: a directory shared between machines
never hands one a program built for another.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import platform
from pathlib import Path

__all__ = ["ENVIRONMENT_VARIABLE", "TF_FLAG", "resolve_compile_cache", "use_compile_cache"]

logger = logging.getLogger(__name__)

ENVIRONMENT_VARIABLE = "TUNER_COMPILE_CACHE"
OFF = "off"
TF_FLAG = "--tf_xla_persistent_cache_directory"


def resolve_compile_cache() -> Path | None:
    """The cache directory for this user's workers; ``None`` if turned off."""
    chosen = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if chosen.lower() == OFF:
        return None
    base = Path(chosen) if chosen else _user_cache() / "lstm-tuner" / "xla-cache"
    return base.absolute() / f"tensorflow-{_tensorflow_version()}-{_processor()}"


def _user_cache() -> Path:
    """``$XDG_CACHE_HOME``, else ``~/.cache``: where a user's caches live (XDG base directories)."""
    chosen = os.environ.get("XDG_CACHE_HOME", "").strip()
    return Path(chosen) if chosen else Path.home() / ".cache"


def use_compile_cache(directory: Path | None) -> Path | None:
    """Point this process's TensorFlow at ``directory``; call it before TensorFlow starts.

    TensorFlow reads ``TF_XLA_FLAGS`` once, at its first compile, so this only
    takes effect in a process that has not compiled yet (a worker, at its start).
    A ``TF_XLA_FLAGS`` that already names a cache directory is left as it is. An
    unusable directory costs the cache, not the study: it is logged and skipped.

    Returns:
        The directory in use, or ``None`` if there is none.
    """
    flags = os.environ.get("TF_XLA_FLAGS", "")
    if TF_FLAG in flags or directory is None:
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        logger.warning("no compile cache: cannot create %s: %s", directory, error.strerror)
        return None
    if not os.access(directory, os.W_OK | os.X_OK):
        logger.warning("no compile cache: %s is not writable", directory)
        return None
    os.environ["TF_XLA_FLAGS"] = f"{flags} {TF_FLAG}={directory}".strip()
    return directory


def _tensorflow_version() -> str:
    try:
        return importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _processor() -> str:
    """The architecture and a short digest of the CPU's instruction-set flags.

    Compiled code may use any instruction the compiling CPU has (XLA targets the
    host), so two processors share entries only if they have the same flags.
    """
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = line
                break
    except OSError:  # not Linux: the processor's name stands in for its flags
        flags = platform.processor()
    return f"{platform.machine()}-{hashlib.sha256(flags.encode()).hexdigest()[:12]}"
