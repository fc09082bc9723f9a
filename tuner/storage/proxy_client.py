"""A worker's side of ``tuner proxy``: Optuna's gRPC storage client, and tuner's calls beside it.

Optuna's protocol carries studies, trials and attributes; the proxy also serves
the budget lock, heartbeats and slot counts, as one small gRPC service of tuner's
own (``tuner.Coordination``, JSON messages) on the same port. The server is
:mod:`tuner.distributed.proxy`; this is what a worker opens when its storage is
``grpc://HOST:PORT`` (docs/deployment.md, "`tuner proxy`").

A proxy may serve TLS and check a token on every call (docs/kubernetes.md, "The
storage proxy"). A worker reads what it needs for that from its environment,
never its command line: the token from ``TUNER_PROXY_TOKEN``, or from the file
``TUNER_PROXY_TOKEN_FILE`` names (a mounted Secret); the certificate authority
that signed the proxy's certificate from ``TUNER_PROXY_CA_FILE``, whose presence
turns TLS on; and, for a proxy that asks for client certificates, the worker's
own in ``TUNER_PROXY_CERT_FILE`` and ``TUNER_PROXY_KEY_FILE``.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import queue
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import optuna
from optuna.trial import FrozenTrial

from tuner.exceptions import ConfigError, StorageError
from tuner.storage.heartbeat import Heartbeat
from tuner.storage.optuna_internals import BaseHeartbeat, channel_of, use_channel
from tuner.storage.slots import SlotCounts

__all__ = [
    "AUTHORIZATION",
    "CA_VARIABLE",
    "CERT_VARIABLE",
    "CONNECT_SECONDS",
    "KEY_VARIABLE",
    "SERVICE",
    "TOKEN_FILE_VARIABLE",
    "TOKEN_VARIABLE",
    "ProxyStorage",
    "connect",
    "hold_lock",
    "open_channel",
    "proxy_token",
    "read_file",
]

SERVICE = "tuner.Coordination"
"""The name of tuner's gRPC service beside Optuna's."""
CONNECT_SECONDS = 10
TOKEN_VARIABLE = "TUNER_PROXY_TOKEN"
TOKEN_FILE_VARIABLE = "TUNER_PROXY_TOKEN_FILE"
CA_VARIABLE = "TUNER_PROXY_CA_FILE"
CERT_VARIABLE = "TUNER_PROXY_CERT_FILE"
KEY_VARIABLE = "TUNER_PROXY_KEY_FILE"
AUTHORIZATION = "authorization"
"""The metadata key carrying ``Bearer <token>`` on every call to the proxy."""
_UNREACHABLE_HINT = "is 'tuner proxy' running there (and, if it serves TLS, is {ca} set)?"

logger = logging.getLogger(__name__)


def read_file(name: str, path: str | Path) -> bytes:
    """The bytes of a certificate, key or token file, for the option or variable ``name``.

    Raises:
        ConfigError: The file cannot be read; the message names ``name``, the
            path and why, never the content.
    """
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ConfigError(f"{name}: cannot read {str(path)!r}: {error.strerror}") from None


def proxy_token() -> str | None:
    """The proxy's shared token, from ``TUNER_PROXY_TOKEN`` or ``TUNER_PROXY_TOKEN_FILE``.

    Both sides read it the same way, so one Secret serves the proxy and its
    workers. A file's surrounding whitespace (its final newline) is dropped.

    Returns:
        The token, or None where neither variable is set (or both are empty).

    Raises:
        ConfigError: Both variables are set, the file cannot be read, or the token
            is empty or not printable ASCII (a gRPC header value); the token is
            never shown.
    """
    given, path = os.environ.get(TOKEN_VARIABLE), os.environ.get(TOKEN_FILE_VARIABLE)
    if given and path:
        raise ConfigError(
            f"set {TOKEN_VARIABLE} or {TOKEN_FILE_VARIABLE}, not both; got both "
            f"({TOKEN_FILE_VARIABLE}={path!r})"
        )
    if not path:
        return _checked_token(TOKEN_VARIABLE, given) if given else None
    token = read_file(TOKEN_FILE_VARIABLE, path).decode("ascii", errors="replace").strip()
    return _checked_token(f"{TOKEN_FILE_VARIABLE} ({path!r})", token)


def _checked_token(name: str, token: str) -> str:
    if not token or not (token.isascii() and token.isprintable()):
        raise ConfigError(
            f"{name} must hold the proxy's token, one line of printable ASCII characters; "
            f"got {'nothing' if not token else 'other characters'}"
        )
    return token


def open_channel(host: str, port: int) -> grpc.Channel:
    """A channel to the proxy at ``host:port``, with TLS and the token the environment gives.

    Raises:
        ConfigError: A certificate, key or token file cannot be read, or only one
            of ``TUNER_PROXY_CERT_FILE`` and ``TUNER_PROXY_KEY_FILE`` is set.
    """
    target = f"{host}:{port}"
    options = [("grpc.max_receive_message_length", -1)]  # as Optuna's own client channel
    ca = os.environ.get(CA_VARIABLE)
    if ca:
        credentials = grpc.ssl_channel_credentials(read_file(CA_VARIABLE, ca), *_client_pair())
        channel = grpc.secure_channel(target, credentials, options)
    else:
        channel = grpc.insecure_channel(target, options)
    token = proxy_token()
    return channel if token is None else grpc.intercept_channel(channel, _Token(token))


def _client_pair() -> tuple[bytes | None, bytes | None]:
    """The worker's own key and certificate, for a proxy that asks for them; else none."""
    cert, key = os.environ.get(CERT_VARIABLE), os.environ.get(KEY_VARIABLE)
    if bool(cert) != bool(key):
        given, missing = (CERT_VARIABLE, KEY_VARIABLE) if cert else (KEY_VARIABLE, CERT_VARIABLE)
        raise ConfigError(f"{given} and {missing} go together; got {given} without {missing}")
    if not cert or not key:
        return None, None
    return read_file(KEY_VARIABLE, key), read_file(CERT_VARIABLE, cert)


class _Details(
    collections.namedtuple(
        "_Details",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    """A call's details with the token added: gRPC has no public way to copy its own."""


class _Token(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds ``authorization: Bearer <token>`` to every call of a channel.

    gRPC's own call credentials are sent only over TLS, while a proxy on loopback,
    or one started with ``--insecure``, also checks the token: an interceptor
    serves both, and Optuna's client and tuner's calls alike.
    """

    def __init__(self, token: str) -> None:
        self._header = (AUTHORIZATION, f"Bearer {token}")

    def __repr__(self) -> str:
        return "_Token(***)"

    def _add(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        metadata = [*(details.metadata or ()), self._header]
        return continuation(
            _Details(
                details.method,
                details.timeout,
                metadata,
                details.credentials,
                details.wait_for_ready,
                details.compression,
            ),
            request,
        )

    intercept_unary_unary = intercept_unary_stream = _add
    intercept_stream_unary = intercept_stream_stream = _add


class ProxyStorage(optuna.storages.GrpcStorageProxy, BaseHeartbeat):
    """Optuna's gRPC storage client, with heartbeats and slot counts served by ``tuner proxy``.

    Being a ``BaseHeartbeat`` with an interval, it makes Optuna start its
    heartbeat thread for every trial and fail stale trials before each ``ask``,
    exactly as with a database URL.
    """

    def __init__(self, host: str, port: int, heartbeat: Heartbeat | None) -> None:
        super().__init__(host=host, port=port)
        self.heartbeat = heartbeat

    def _setup(self) -> None:
        """Open the channel with TLS and the token (Optuna's own is plaintext, without)."""
        use_channel(self, open_channel(self._host, self._port))

    def wait_server_ready(self, timeout: float | None = None) -> None:
        """Wait until the proxy answers on this storage's own channel, TLS included.

        Raises:
            ConnectionError: It does not within ``timeout`` seconds.
        """
        try:
            grpc.channel_ready_future(channel_of(self)).result(timeout=timeout)
        except grpc.FutureTimeoutError as error:
            raise ConnectionError("gRPC connection timeout") from error

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
        counts = self._call("Slots", {"study_id": study_id})
        # JSON carries the tuples of trial numbers as lists
        return SlotCounts(
            **{
                key: tuple(value) if isinstance(value, list) else value
                for key, value in counts.items()
            }
        )

    def _call(self, method: str, request: dict[str, int]) -> object:
        call = channel_of(self).unary_unary(f"/{SERVICE}/{method}")
        return json.loads(call(json.dumps(request).encode()))


def connect(host: str, port: int, heartbeat: Heartbeat | None) -> ProxyStorage:
    """The storage served by ``tuner proxy`` at ``host:port``, its token checked at once.

    A first call checks the token, so a wrong one stops the worker with one line
    before it takes a trial.

    Raises:
        StorageError: No proxy answers there within ``CONNECT_SECONDS``, or it
            refuses this worker's token.
        ConfigError: The environment's TLS or token settings cannot be read.
    """
    storage = ProxyStorage(host, port, heartbeat)
    try:
        storage.wait_server_ready(timeout=CONNECT_SECONDS)
        storage._call("Check", {})
    except ConnectionError:
        storage.close()
        raise StorageError(
            f"cannot reach the tuner proxy at {host}:{port} within {CONNECT_SECONDS} s; "
            + _UNREACHABLE_HINT.format(ca=CA_VARIABLE)
        ) from None
    except grpc.RpcError as error:
        storage.close()
        raise _refused(host, port, error) from None
    return storage


def _refused(host: str, port: int, error: grpc.RpcError) -> StorageError:
    """The one-line error for a call the proxy refused or failed."""
    if error.code() == grpc.StatusCode.UNAUTHENTICATED:
        return StorageError(
            f"the tuner proxy at {host}:{port} refused this worker: {error.details()}; "
            f"set {TOKEN_VARIABLE} or {TOKEN_FILE_VARIABLE} to the proxy's token"
        )
    return StorageError(f"cannot reach the tuner proxy at {host}:{port}: {error.details()}")


def hold_lock(host: str, port: int, name: str) -> Callable[[], None]:
    """Wait until the proxy at ``host:port`` holds lock ``name`` for this process.

    Returns:
        The function that lets the lock go (and returns once the proxy has).

    Raises:
        StorageError: No proxy answers there, or it refuses this worker's token.
        ConfigError: The environment's TLS or token settings cannot be read.
    """
    channel = open_channel(host, port)
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
        raise _refused(host, port, error) from error

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
