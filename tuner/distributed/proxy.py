"""Many workers, few database connections: Optuna's gRPC storage proxy with tuner's additions.

``tuner proxy`` holds the study database's connections and serves Optuna's
storage protocol (:class:`optuna.storages.GrpcStorageProxy`) to any number of
workers, which then name it as their storage, ``grpc://HOST:PORT``, and need no
database credentials. Optuna's protocol carries studies, trials and attributes,
but not three things a worker also needs from the database (README, "`tuner
proxy`"):

- **the budget lock**: the proxy takes the same database lock a direct worker
  takes (:class:`tuner.storage.locks.ExclusiveLock`), on the worker's behalf, for
  as long as the worker keeps a call open; a worker that dies drops its call, and
  the lock with it, as an advisory lock dies with its session;
- **heartbeats**: Optuna's ``GrpcStorageProxy`` has none, so a dead worker's trial
  would stay RUNNING and the study would never meet its budget; the proxy
  records the beats and finds the stale trials, and Optuna's own heartbeat
  thread and ``fail_stale_trials`` run unchanged in the worker;
- **slot counts**: the aggregate queries of :func:`tuner.storage.slots.count_slots`.

They are one small gRPC service of tuner's own (``tuner.Coordination``, JSON
messages) on the proxy's port, beside Optuna's; the workers' side of it is
:mod:`tuner.storage.proxy_client`.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import grpc
import optuna
import sqlalchemy
from optuna.trial import TrialState

from tuner.exceptions import ConfigError
from tuner.storage.database import open_storage
from tuner.storage.locks import exclusive
from tuner.storage.optuna_internals import (
    OptunaStorageProxyService,
    api_pb2_grpc,
    cached,
    models,
)
from tuner.storage.proxy_client import SERVICE
from tuner.storage.slots import count_slots
from tuner.storage.url import DatabaseURL

__all__ = ["stale_trial_ids", "start_proxy"]

THREADS = 1000
"""Each call in progress takes a thread of the proxy, and a worker waiting for the
budget lock keeps one; enough for several hundred workers. Threads start on demand."""
KEEPALIVE_MS = 10_000
"""The proxy pings an idle worker this often and drops it after as long without an
answer, so a lock held by a machine that vanished is let go within seconds."""


def start_proxy(url: DatabaseURL, host: str, port: int) -> grpc.Server:
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
    server = grpc.server(
        ThreadPoolExecutor(max_workers=THREADS),
        options=[
            ("grpc.keepalive_time_ms", KEEPALIVE_MS),
            ("grpc.keepalive_timeout_ms", KEEPALIVE_MS),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.so_reuseport", 0),  # a second proxy on the same port is refused, not shared
        ],
    )
    servicer = OptunaStorageProxyService(cached(storage))
    api_pb2_grpc.add_StorageServiceServicer_to_server(servicer, server)
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

    def __init__(self, url: DatabaseURL, storage: optuna.storages.RDBStorage) -> None:
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
