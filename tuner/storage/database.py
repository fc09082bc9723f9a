"""Opening the study database a :class:`~tuner.storage.url.DatabaseURL` names.

SQLite suits workers on one machine; PostgreSQL suits many; a ``grpc://`` URL
reaches a database through ``tuner proxy``. Every message shows the URL masked.
"""

from __future__ import annotations

import functools
import logging
import sqlite3

import optuna
import sqlalchemy

from tuner.exceptions import StorageError
from tuner.storage.failures import connection_lost, database_failure
from tuner.storage.heartbeat import Heartbeat
from tuner.storage.proxy_client import connect
from tuner.storage.url import DatabaseURL

__all__ = ["open_storage", "release_connections", "unreachable"]

logger = logging.getLogger(__name__)

SQLITE_TIMEOUT_SECONDS = 120
"""Long enough that local workers wait for each other's writes instead of failing."""


def open_storage(
    url: str | DatabaseURL, heartbeat: Heartbeat | None = None, *, create: bool = True
) -> optuna.storages.BaseStorage:
    """Open (creating tables, and a SQLite file's directory, if needed) the study database.

    Args:
        url: SQLite or PostgreSQL URL, or the ``grpc://HOST:PORT`` of a ``tuner proxy``.
        heartbeat: With it, a trial whose worker stops beating is failed after
            the grace period and retried.
        create: ``False`` for a command that only reads a study: a database that
            does not exist, or holds no study tables, is refused and left as it was
            (no file, directory or table is created).

    Returns:
        An Optuna ``RDBStorage``, or for a proxy a
        :class:`~tuner.storage.proxy_client.ProxyStorage`.

    Raises:
        StorageError: The URL is malformed or unsupported, or the database (or the
            proxy) cannot be reached (host and port named, password masked); with
            ``create=False``, the database holds no studies.
    """
    url = DatabaseURL.of(url)
    if url.is_proxy:
        return connect(url.host, url.port, heartbeat)
    if not create:
        _require_study_tables(url)
    beats: dict[str, object] = {}
    if heartbeat is not None:
        beats = {
            "heartbeat_interval": heartbeat.interval,
            "grace_period": heartbeat.grace_period,
            "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=heartbeat.max_retry
            ),
        }
    if url.path is not None and create:
        url.path.parent.mkdir(parents=True, exist_ok=True)
    if url.driver == "sqlite":
        _journal_sqlite_ahead()
    try:
        return _Storage(url, skip_table_creation=not create, **beats)
    except sqlalchemy.exc.SQLAlchemyError as error:
        raise unreachable(url, error) from None


def _require_study_tables(url: DatabaseURL) -> None:
    """Refuse a database that does not exist or holds no study tables, creating nothing.

    SQLite creates a file it is asked to open, so a missing file is refused
    before any connection; a server's database is looked into with a throwaway
    engine, since Optuna's storage would create its tables on opening.
    """
    advice = "create a study first with 'tuner create STUDY_FILE' (or 'tuner run')"
    if url.path is not None and not url.path.is_file():
        raise StorageError(f"no study database at {url}: the file does not exist; {advice}")
    engine = sqlalchemy.create_engine(url.text, **_engine_kwargs(url))
    try:
        with engine.connect() as connection:
            holds_studies = sqlalchemy.inspect(connection).has_table("studies")
    except sqlalchemy.exc.SQLAlchemyError as error:
        raise unreachable(url, error) from None
    finally:
        engine.dispose()
    if not holds_studies:
        raise StorageError(f"no study database at {url}: it holds no studies; {advice}")


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

    def __init__(self, url: DatabaseURL, **beats: object) -> None:
        self.database_url = url
        super().__init__(url.text, engine_kwargs=_engine_kwargs(url), **beats)

    def record_heartbeat(self, trial_id: int) -> None:
        """Record a beat; a lost connection skips it rather than stopping the thread."""
        try:
            super().record_heartbeat(trial_id)
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as error:
            if not connection_lost(self.database_url, error):
                raise
            logger.warning("heartbeat of trial %d skipped: %s", trial_id, database_failure(error))


def unreachable(url: DatabaseURL, error: Exception) -> StorageError:
    """The one-line error of a database that cannot be used, naming where it is."""
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    if url.driver == "sqlite":
        return StorageError(f"cannot use the SQLite database {url}: {reason}")
    return StorageError(f"cannot reach the database at {url.where} ({url}): {reason}")


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

    def set_pragmas(connection: object, _: object) -> None:
        if isinstance(connection, sqlite3.Connection):
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", set_pragmas)


def _engine_kwargs(url: DatabaseURL) -> dict[str, object]:
    if url.driver == "sqlite":
        return {"connect_args": {"timeout": SQLITE_TIMEOUT_SECONDS}}
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
