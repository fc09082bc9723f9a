"""A worker's side of ``tuner proxy``: Optuna's gRPC storage client, and tuner's calls beside it.

Optuna's protocol carries studies, trials and attributes; the proxy also serves
the budget lock, heartbeats and slot counts, as one small gRPC service of tuner's
own (``tuner.Coordination``, JSON messages) on the same port. The server is
:mod:`tuner.distributed.proxy`; this is what a worker opens when its storage is
``grpc://HOST:PORT`` (README, "`tuner proxy`").
"""

from __future__ import annotations

import json
import logging
import queue
from collections.abc import Callable, Iterator

import grpc
import optuna
from optuna.trial import FrozenTrial

from tuner.exceptions import StorageError
from tuner.storage.heartbeat import Heartbeat
from tuner.storage.optuna_internals import BaseHeartbeat, channel_of
from tuner.storage.slots import SlotCounts

__all__ = ["CONNECT_SECONDS", "SERVICE", "ProxyStorage", "connect", "hold_lock"]

SERVICE = "tuner.Coordination"
"""The name of tuner's gRPC service beside Optuna's."""
CONNECT_SECONDS = 10

logger = logging.getLogger(__name__)


class ProxyStorage(optuna.storages.GrpcStorageProxy, BaseHeartbeat):
    """Optuna's gRPC storage client, with heartbeats and slot counts served by ``tuner proxy``.

    Being a ``BaseHeartbeat`` with an interval, it makes Optuna start its
    heartbeat thread for every trial and fail stale trials before each ``ask``,
    exactly as with a database URL.
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
        call = channel_of(self).unary_unary(f"/{SERVICE}/{method}")
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
