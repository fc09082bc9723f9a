"""Many workers, few database connections: Optuna's gRPC storage proxy with tuner's additions.

``tuner proxy`` holds the study database's connections and serves Optuna's
storage protocol (:class:`optuna.storages.GrpcStorageProxy`) to any number of
workers, which then name it as their storage, ``grpc://HOST:PORT``, and need no
database credentials. Optuna's protocol carries studies, trials and attributes,
but not three things a worker also needs from the database (README, "`tuner
proxy`"):

- **the budget lock**: the proxy takes the same database lock a direct worker
  takes (:class:`tuner.storage.database.ExclusiveLock`), on the worker's behalf, for as
  long as the worker keeps a call open; a worker that dies drops its call, and
  the lock with it, as an advisory lock dies with its session;
- **heartbeats**: Optuna's ``GrpcStorageProxy`` has none, so a dead worker's trial
  would stay RUNNING and the study would never meet its budget; the proxy
  records the beats and finds the stale trials, and Optuna's own heartbeat
  thread and ``fail_stale_trials`` run unchanged in the worker;
- **slot counts**: the aggregate queries of :func:`tuner.search.study.count_slots`.

They are one small gRPC service of tuner's own (``tuner.Coordination``, JSON
messages) on the proxy's port, beside Optuna's.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import grpc
import optuna
import sqlalchemy
from optuna.storages._grpc.auto_generated import api_pb2_grpc
from optuna.storages._grpc.servicer import OptunaStorageProxyService
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages._rdb import models
from optuna.trial import FrozenTrial, TrialState

from tuner.exceptions import ConfigError, StorageError
from tuner.search.study import SlotCounts, count_slots
from tuner.storage.database import Heartbeat, exclusive, open_storage

__all__ = ["DEFAULT_PORT", "ProxyStorage", "connect", "hold_lock", "start_proxy"]

DEFAULT_PORT = 13000
"""Optuna's default port for its proxy."""
SERVICE = "tuner.Coordination"
THREADS = 1000
"""Each call in progress takes a thread of the proxy, and a worker waiting for the
budget lock keeps one; enough for several hundred workers. Threads start on demand."""
KEEPALIVE_MS = 10_000
"""The proxy pings an idle worker this often and drops it after as long without an
answer, so a lock held by a machine that vanished is let go within seconds."""
CONNECT_SECONDS = 10

logger = logging.getLogger(__name__)


def start_proxy(url: str, host: str, port: int) -> grpc.Server:
    """Start serving the database at ``url`` to workers on ``host:port``.

    Returns:
        The running server; ``wait_for_termination`` serves until interrupted, and
        ``stop`` ends it.

    Optuna's :func:`optuna.storages.run_grpc_proxy_server` builds the same server
    but cannot take a second service or keepalive settings, so its two parts (the
    servicer and its registration) are used directly.

    Raises:
        StorageError: The database cannot be reached.
        ConfigError: ``host:port`` cannot be bound.
    """
    storage = open_storage(url)
    cached = optuna.storages._CachedStorage(storage)  # as Optuna advises for its proxy
    server = grpc.server(
        ThreadPoolExecutor(max_workers=THREADS),
        options=[
            ("grpc.keepalive_time_ms", KEEPALIVE_MS),
            ("grpc.keepalive_timeout_ms", KEEPALIVE_MS),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.so_reuseport", 0),  # a second proxy on the same port is refused, not shared
        ],
    )
    api_pb2_grpc.add_StorageServiceServicer_to_server(OptunaStorageProxyService(cached), server)
    server.add_generic_rpc_handlers((_Coordination(url, storage).handler(),))
    try:
        server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        raise ConfigError(
            f"cannot serve on {host}:{port} (in use, or not an address of this machine); "
            "choose another --port or --host"
        ) from None
    server.start()
    return server


class _Coordination:
    """The proxy's side of what Optuna's protocol lacks: the lock, heartbeats, slot counts."""

    def __init__(self, url: str, storage: optuna.storages.RDBStorage) -> None:
        self.url = url
        self.storage = storage
        self._waits: dict[str, threading.Lock] = {}
        self._waits_lock = threading.Lock()

    def handler(self) -> grpc.GenericRpcHandler:
        unary = {
            "Beat": self.beat,
            "Stale": self.stale,
            "Slots": self.slots,
        }
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(_json_method(method))
            for name, method in unary.items()
        }
        handlers["Hold"] = grpc.stream_stream_rpc_method_handler(self.hold)
        return grpc.method_handlers_generic_handler(SERVICE, handlers)

    def hold(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        """Hold the lock named by the first request until the worker ends its call.

        Workers waiting for the same lock wait here, one thread each, not in the
        database: only the one holding it uses a database connection.
        """
        name = json.loads(next(requests))["name"]
        with self._wait(name), exclusive(self.url, name):
            yield b"{}"
            for _ in requests:  # ends when the worker lets go, or its call is dropped
                pass

    def beat(self, request: dict[str, int]) -> object:
        self.storage.record_heartbeat(request["trial_id"])
        return {}

    def stale(self, request: dict[str, int]) -> object:
        return stale_trial_ids(self.storage, request["study_id"], request["grace_period"])

    def slots(self, request: dict[str, int]) -> object:
        return dataclasses.asdict(count_slots(self.storage, request["study_id"]))

    def _wait(self, name: str) -> threading.Lock:
        with self._waits_lock:
            return self._waits.setdefault(name, threading.Lock())


def _json_method(
    method: Callable[[dict[str, int]], object],
) -> Callable[[bytes, grpc.ServicerContext], bytes]:
    def call(request: bytes, context: grpc.ServicerContext) -> bytes:
        return json.dumps(method(json.loads(request))).encode()

    return call


def stale_trial_ids(storage: optuna.storages.RDBStorage, study_id: int, grace: int) -> list[int]:
    """RUNNING trials of the study whose last beat is older than ``grace`` seconds.

    Optuna's own check (``RDBStorage._get_stale_trial_ids``) reads one grace
    period fixed on the storage, while one proxy serves studies with different
    ones; this is the same query with the grace period as an argument. A trial
    that never beat is not stale, as in Optuna.
    """
    trials, beats = models.TrialModel, models.TrialHeartbeatModel
    query = (
        sqlalchemy.select(trials.trial_id, beats.heartbeat)
        .join(beats, beats.trial_id == trials.trial_id)
        .where(trials.study_id == study_id, trials.state == TrialState.RUNNING)
    )
    with storage.engine.connect() as connection:
        now = connection.execute(sqlalchemy.select(sqlalchemy.func.now())).scalar_one()
        rows = connection.execute(query).all()
    now = now.replace(tzinfo=None)  # PostgreSQL answers with a time zone, SQLite without
    return [trial_id for trial_id, beat in rows if now - beat > timedelta(seconds=grace)]


class ProxyStorage(optuna.storages.GrpcStorageProxy, BaseHeartbeat):
    """Optuna's gRPC storage client, with heartbeats and slot counts served by ``tuner proxy``.

    Being a :class:`~optuna.storages._heartbeat.BaseHeartbeat` with an interval,
    it makes Optuna start its heartbeat thread for every trial and fail stale
    trials before each ``ask``, exactly as with a database URL.
    """

    def __init__(self, host: str, port: int, heartbeat: Heartbeat | None) -> None:
        super().__init__(host=host, port=port)
        self.heartbeat = heartbeat

    def record_heartbeat(self, trial_id: int) -> None:
        """Record a beat; an unreachable proxy skips it (logged) rather than ending the thread."""
        try:
            self._call("Beat", {"trial_id": trial_id})
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            logger.warning("heartbeat of trial %d skipped: %s", trial_id, error.details())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        assert self.heartbeat is not None
        grace = self.heartbeat.grace_period
        return self._call("Stale", {"study_id": study_id, "grace_period": grace})

    def get_heartbeat_interval(self) -> int | None:
        """The study's heartbeat interval; None (no heartbeats) for a storage opened without."""
        return None if self.heartbeat is None else self.heartbeat.interval

    def get_heartbeat_stale_trial_callback(
        self,
    ) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        """Optuna's retry of a stale trial, as a database URL's storage has it."""
        if self.heartbeat is None:
            return None
        return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=self.heartbeat.max_retry)

    def count_slots(self, study_id: int) -> SlotCounts:
        """The study's slot counts, counted by the proxy in the database."""
        return SlotCounts(**self._call("Slots", {"study_id": study_id}))

    def _call(self, method: str, request: dict[str, int]) -> object:
        call = self._channel.unary_unary(f"/{SERVICE}/{method}")
        return json.loads(call(json.dumps(request).encode()))


def connect(host: str, port: int, heartbeat: Heartbeat | None) -> ProxyStorage:
    """The storage served by ``tuner proxy`` at ``host:port``.

    Raises:
        StorageError: No proxy answers there within ``CONNECT_SECONDS``.
    """
    storage = ProxyStorage(host, port, heartbeat)
    try:
        storage.wait_server_ready(timeout=CONNECT_SECONDS)
    except ConnectionError:
        storage.close()
        raise StorageError(
            f"cannot reach the tuner proxy at {host}:{port} within {CONNECT_SECONDS} s; "
            "is 'tuner proxy' running there?"
        ) from None
    return storage


def hold_lock(host: str, port: int, name: str) -> Callable[[], None]:
    """Wait until the proxy at ``host:port`` holds lock ``name`` for this process.

    Returns:
        The function that lets the lock go (and returns once the proxy has).

    Raises:
        StorageError: No proxy answers there.
    """
    channel = grpc.insecure_channel(f"{host}:{port}")
    requests: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def stream() -> Iterator[bytes]:
        while (request := requests.get()) is not None:
            yield request

    requests.put(json.dumps({"name": name}).encode())
    responses = channel.stream_stream(f"/{SERVICE}/Hold")(stream())
    try:
        next(responses)
    except grpc.RpcError as error:
        channel.close()
        raise StorageError(
            f"cannot reach the tuner proxy at {host}:{port}: {error.details()}"
        ) from error

    def release() -> None:
        requests.put(None)
        try:
            for _ in responses:
                pass
        except grpc.RpcError as error:  # the proxy is gone, and the lock with its call
            logger.debug("lock %s: %s", name, error.details())
        finally:
            channel.close()

    return release
