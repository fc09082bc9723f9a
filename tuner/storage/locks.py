"""The database-wide lock: one study created at a time, one claim of the budget at a time."""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from pathlib import Path

import sqlalchemy
from filelock import FileLock

from tuner.storage.database import unreachable
from tuner.storage.proxy_client import hold_lock
from tuner.storage.url import DatabaseURL

__all__ = ["ExclusiveLock", "exclusive"]


class ExclusiveLock:
    """A lock named ``name`` shared by every process using the database at ``url``.

    Creating a study and taking a trial slot happen under it, so concurrent
    ``tuner create`` calls make one study and workers never overrun the budget.
    PostgreSQL uses an advisory lock (works across machines); SQLite, a lock file
    beside the database (SQLite is for one machine anyway); through ``tuner
    proxy``, the proxy takes the database's lock for this process and holds it
    while the process keeps its call open
    (:func:`tuner.storage.proxy_client.hold_lock`), so workers behind a proxy and
    workers on the database exclude each other. Use it as a context manager;
    :meth:`release` may be called earlier, inside the block, and :meth:`acquire`
    takes it again; releasing twice is harmless.
    """

    def __init__(self, url: DatabaseURL, name: str) -> None:
        self.url = url
        self.name = name
        self.key = zlib.crc32(name.encode())
        self._release: Callable[[], None] | None = None

    def __enter__(self) -> ExclusiveLock:
        self.acquire()
        return self

    def acquire(self) -> None:
        """Wait for the lock and take it (no-op if this object holds it already)."""
        if self._release is not None:
            return
        url = self.url
        if url.is_proxy:
            self._release = hold_lock(url.host, url.port, self.name)
        elif url.driver == "sqlite":
            self._release = _lock_file(Path(f"{url.path}.lock"))
        else:
            self._release = self._lock_postgres()

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def release(self) -> None:
        """Release the lock now, if still held."""
        release, self._release = self._release, None
        if release is not None:
            release()

    def _lock_postgres(self) -> Callable[[], None]:
        try:
            connection = _lock_engine(self.url.text).connect()
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
        except sqlalchemy.exc.OperationalError as error:
            raise unreachable(self.url, error) from error  # a worker reconnects on it

        def release() -> None:
            try:
                connection.execute(
                    sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key}
                )
            except sqlalchemy.exc.DBAPIError as error:
                if not error.connection_invalidated:
                    raise
                # The connection died, and an advisory lock dies with its session.
            finally:
                connection.close()

        return release


def exclusive(url: str | DatabaseURL, name: str) -> ExclusiveLock:
    """The database-wide lock ``name`` (see :class:`ExclusiveLock`)."""
    return ExclusiveLock(DatabaseURL.of(url), name)


def _lock_file(path: Path) -> Callable[[], None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path)
    lock.acquire()
    return lock.release


@functools.cache
def _lock_engine(url: str) -> sqlalchemy.engine.Engine:
    # One connection per lock held at once: one in a worker, one per study and kind
    # of lock in a proxy, which holds them for its workers.
    return sqlalchemy.create_engine(url, pool_size=1, max_overflow=-1, pool_pre_ping=True)
