"""Where studies live: resolving, opening and locking the database.

The database URL is resolved here, in one place: ``--storage`` beats the
``TUNER_STORAGE`` environment variable, which beats the study file's
``storage`` key, which beats the default SQLite file ``storage/tuner.db``.
SQLite suits workers on one machine; PostgreSQL (``postgresql+psycopg://...``)
suits many; ``grpc://HOST:PORT`` reaches a database through ``tuner proxy``
(:mod:`tuner.distributed.proxy`), for more workers than the database has connections. URLs
are masked (password hidden) in every message.
"""

from __future__ import annotations

import functools
import logging
import os
import types
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import sqlalchemy
from filelock import FileLock
from sqlalchemy.engine import URL, make_url

from tuner.exceptions import StorageError

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "ExclusiveLock",
    "Heartbeat",
    "connection_lost",
    "database_failure",
    "default_url",
    "exclusive",
    "has_password",
    "mask",
    "open_storage",
    "proxy_address",
    "redact",
    "release_connections",
    "resolve_url",
    "sqlite_file",
]

logger = logging.getLogger(__name__)

ENVIRONMENT_VARIABLE = "TUNER_STORAGE"
PROXY_SCHEME = "grpc"
SQLITE_TIMEOUT_SECONDS = 120
"""Long enough that local workers wait for each other's writes instead of failing."""


def default_url() -> str:
    """The SQLite file ``storage/tuner.db`` under the current directory."""
    return f"sqlite:///{Path.cwd() / 'storage' / 'tuner.db'}"


def resolve_url(option: str | None, study_file_storage: str | None = None) -> str:
    """``--storage``, else ``TUNER_STORAGE``, else the study file's key, else the default."""
    return option or os.environ.get(ENVIRONMENT_VARIABLE) or study_file_storage or default_url()


def proxy_address(url: str) -> tuple[str, int] | None:
    """The host and port of a ``grpc://HOST:PORT`` URL (a ``tuner proxy``); None for a database.

    Raises:
        StorageError: A ``grpc://`` URL without a host and a port, or with more.
    """
    if not url.startswith(f"{PROXY_SCHEME}://"):
        return None
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or parts.path or parts.query or parts.username:
        raise StorageError(
            f"storage {url!r} is not a proxy address; expected grpc://HOST:PORT, as "
            "'tuner proxy' prints it"
        )
    return parts.hostname, port


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; ``None`` for a server, a proxy or an in-memory database.

    Raises:
        StorageError: The URL is malformed or names an unsupported database.
    """
    return None if proxy_address(url) else _file_of(_parse(url))


def mask(url: str) -> str:
    """The URL with its password replaced by ``***`` (or the text as is if it is no URL)."""
    if url.startswith(f"{PROXY_SCHEME}://"):
        return url  # a proxy address carries no credentials
    try:
        return _parse(url).render_as_string(hide_password=True)
    except StorageError:
        return url.split("@")[-1] if "@" in url else url


def has_password(url: str) -> bool:
    """Whether ``url`` carries a password."""
    return proxy_address(url) is None and _parse(url).password is not None


def redact(text: str, url: str | None) -> str:
    """``text`` with ``url`` in it masked, so a study file's password is never stored."""
    if not url or not has_password(url):
        return text
    return text.replace(url, mask(url))


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


def open_storage(url: str, heartbeat: Heartbeat | None = None) -> optuna.storages.BaseStorage:
    """Open (creating tables if needed) the study database at ``url``.

    Args:
        url: SQLite or PostgreSQL URL, or the ``grpc://HOST:PORT`` of a ``tuner proxy``.
        heartbeat: With it, a trial whose worker stops beating is failed after
            the grace period and retried.

    Returns:
        An Optuna ``RDBStorage``, or for a proxy a :class:`tuner.distributed.proxy.ProxyStorage`.

    Raises:
        StorageError: The URL is malformed or unsupported, or the database (or the
            proxy) cannot be reached (host and port named, password masked).
    """
    address = proxy_address(url)
    if address is not None:
        from tuner.distributed.proxy import connect

        return connect(*address, heartbeat)
    parsed = _parse(url)
    beats: dict[str, object] = {}
    if heartbeat is not None:
        beats = {
            "heartbeat_interval": heartbeat.interval,
            "grace_period": heartbeat.grace_period,
            "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=heartbeat.max_retry
            ),
        }
    if parsed.get_backend_name() == "sqlite":
        _journal_sqlite_ahead()
    try:
        return _Storage(url, engine_kwargs=_engine_kwargs(parsed), **beats)
    except sqlalchemy.exc.SQLAlchemyError as error:
        raise _unreachable(parsed, error) from None


def release_connections(storage: optuna.storages.BaseStorage) -> None:
    """Close the database connections ``storage`` keeps open (a proxy's are the proxy's)."""
    if isinstance(storage, optuna.storages.RDBStorage):
        storage.engine.dispose()


class _Storage(optuna.storages.RDBStorage):
    """Optuna's RDBStorage whose heartbeat outlives a lost PostgreSQL connection.

    Optuna beats from a thread that dies on the first database error, and a
    trial whose beats stop is failed as if its worker had died. During a server
    restart the beat is skipped (and logged) instead; the next one reconnects.
    """

    def record_heartbeat(self, trial_id: int) -> None:
        """Record a beat; a lost connection skips it rather than stopping the thread."""
        try:
            super().record_heartbeat(trial_id)
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as error:
            if not connection_lost(self.url, error):
                raise
            logger.warning("heartbeat of trial %d skipped: %s", trial_id, database_failure(error))


class ExclusiveLock:
    """A lock named ``name`` shared by every process using the database at ``url``.

    Creating a study and taking a trial slot happen under it, so concurrent
    ``tuner create`` calls make one study and workers never overrun the budget.
    PostgreSQL uses an advisory lock (works across machines); SQLite, a lock file
    beside the database (SQLite is for one machine anyway); through ``tuner
    proxy``, the proxy takes the database's lock for this process and holds it
    while the process keeps its call open (:func:`tuner.distributed.proxy.hold_lock`), so
    workers behind a proxy and workers on the database exclude each other. Use it as a context
    manager; :meth:`release` may be called earlier, inside the block, and
    :meth:`acquire` takes it again; releasing twice is harmless.
    """

    def __init__(self, url: str, name: str) -> None:
        self.proxy = proxy_address(url)
        self.parsed = None if self.proxy else _parse(url)
        self.name = name
        self.url = url
        self.key = zlib.crc32(name.encode())
        self._release: Callable[[], None] | None = None

    def __enter__(self) -> ExclusiveLock:
        self.acquire()
        return self

    def acquire(self) -> None:
        """Wait for the lock and take it (no-op if this object holds it already)."""
        if self._release is not None:
            return
        if self.proxy is not None:
            from tuner.distributed.proxy import hold_lock

            self._release = hold_lock(*self.proxy, self.name)
        elif self.parsed.get_backend_name() == "sqlite":
            self._release = _lock_file(Path(f"{self.parsed.database}.lock"))
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
            connection = _lock_engine(self.url).connect()
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
        except sqlalchemy.exc.OperationalError as error:
            raise _unreachable(self.parsed, error) from error  # a worker reconnects on it

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


def exclusive(url: str, name: str) -> ExclusiveLock:
    """The database-wide lock ``name`` (see :class:`ExclusiveLock`)."""
    return ExclusiveLock(url, name)


def connection_lost(url: str, error: BaseException) -> bool:
    """Whether ``error`` is a lost PostgreSQL connection, worth reconnecting after.

    A restarting or unreachable server, or a dropped connection, passes once the
    server is back; an SQLite error (a read-only file, a full disk) does not. Behind
    a proxy, an unreachable proxy counts, and so does a database the proxy lost.
    """
    if proxy_address(url) is not None:
        import grpc

        call = _in_chain(error, grpc.RpcError)
        return call is not None and (
            call.code() == grpc.StatusCode.UNAVAILABLE
            or "OperationalError" in (call.details() or "")
        )
    lost = sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError
    return _parse(url).get_backend_name() == "postgresql" and _in_chain(error, lost) is not None


def database_failure(error: BaseException) -> str | None:
    """A one-line account of a database error raised mid-command, or None for other errors.

    SQLAlchemy's and Optuna's storage errors carry the driver's message; its first
    line names what failed (never the password, which drivers do not echo).
    """
    import grpc

    call = _in_chain(error, grpc.RpcError)
    if call is not None and isinstance(call, grpc.Call):
        details = (call.details() or call.code().name).strip().splitlines()[0]
        return f"the proxy failed: {details}"
    cause = _in_chain(error, sqlalchemy.exc.SQLAlchemyError)
    if cause is None:
        return None
    reason = str(getattr(cause, "orig", None) or cause).strip().splitlines()[0]
    advice = ""
    if "readonly" in reason or "read-only" in reason:
        advice = "; make the database file and its directory writable"
    return f"the database failed: {reason}{advice}"


def _in_chain(error: BaseException | None, kind: type | types.UnionType) -> BaseException | None:
    """The first exception of ``kind`` in ``error``'s chain of causes (Optuna wraps them)."""
    while error is not None:
        if isinstance(error, kind):
            return error
        error = error.__cause__ or error.__context__
    return None


def _lock_file(path: Path) -> Callable[[], None]:
    lock = FileLock(path)
    lock.acquire()
    return lock.release


@functools.cache
def _lock_engine(url: str) -> sqlalchemy.engine.Engine:
    # One connection per lock held at once: one in a worker, one per study and kind
    # of lock in a proxy, which holds them for its workers.
    return sqlalchemy.create_engine(url, pool_size=1, max_overflow=-1, pool_pre_ping=True)


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise StorageError(
            f"storage {url.split('@')[-1]!r} is not a database URL; expected "
            "sqlite:///path/to/file.db or postgresql+psycopg://user:password@host:port/db"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StorageError(
            f"storage {parsed.render_as_string(hide_password=True)!r} uses {backend!r}; "
            "supported: sqlite, postgresql"
        )
    database = _file_of(parsed)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    return parsed


def _file_of(parsed: URL) -> Path | None:
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


@functools.cache
def _journal_sqlite_ahead() -> None:
    """Open every SQLite database in write-ahead-log mode, synced at checkpoints.

    A trial makes a few dozen small commits (its parameters, attributes and
    state). SQLite's default rollback journal syncs the disk at each one, which
    was most of a worker's database time; with a write-ahead log and
    ``synchronous=NORMAL`` a commit is an append, readers do not block the
    writer, and a killed process loses nothing (only a power cut can lose the
    last commits, and a trial cut short that way is retried like any other).
    Optuna opens the connections, so the pragmas are set on every new one.
    """
    import sqlite3

    def set_pragmas(connection: object, _: object) -> None:
        if isinstance(connection, sqlite3.Connection):
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", set_pragmas)


def _engine_kwargs(parsed: URL) -> dict[str, object]:
    if parsed.get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": SQLITE_TIMEOUT_SECONDS}}
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}


def _unreachable(parsed: URL, error: Exception) -> StorageError:
    masked = parsed.render_as_string(hide_password=True)
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    if parsed.get_backend_name() == "sqlite":
        return StorageError(f"cannot use the SQLite database {masked}: {reason}")
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    return StorageError(f"cannot reach the database at {where} ({masked}): {reason}")
