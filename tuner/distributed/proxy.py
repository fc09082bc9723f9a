"""Many workers, few database connections: Optuna's gRPC storage proxy with tuner's additions.

``tuner proxy`` holds the study database's connections and serves Optuna's
storage protocol (:class:`optuna.storages.GrpcStorageProxy`) to any number of
workers, which then name it as their storage, ``grpc://HOST:PORT``, and need no
database credentials. Optuna's protocol carries studies, trials and attributes,
but not three things a worker also needs from the database
(docs/deployment.md, "`tuner proxy`"):

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

Optuna's protocol can also delete every study, so the proxy lets in only its
workers (docs/kubernetes.md, "The storage proxy"): it serves TLS with
``--tls-cert`` and ``--tls-key`` (and asks for client certificates signed by
``--tls-client-ca``), checks a shared token on every call (``TUNER_PROXY_TOKEN``
or ``TUNER_PROXY_TOKEN_FILE``, never an option, so it is not in ``ps``), and
refuses to bind beyond loopback without both unless ``--insecure`` says so.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

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
from tuner.storage.proxy_client import (
    AUTHORIZATION,
    SERVICE,
    TOKEN_FILE_VARIABLE,
    TOKEN_VARIABLE,
    proxy_token,
    read_file,
)
from tuner.storage.slots import count_slots
from tuner.storage.url import DatabaseURL

__all__ = ["ProxySecurity", "stale_trial_ids", "start_proxy"]

THREADS = 1000
"""Each call in progress takes a thread of the proxy, and a worker waiting for the
budget lock keeps one; enough for several hundred workers. Threads start on demand."""
KEEPALIVE_MS = 10_000
"""The proxy pings an idle worker this often and drops it after as long without an
answer, so a lock held by a machine that vanished is let go within seconds."""


@dataclasses.dataclass(frozen=True)
class ProxySecurity:
    """What keeps the proxy's port to its workers, besides the token.

    Attributes:
        cert: The proxy's certificate (PEM), for TLS; with ``key``.
        key: Its private key (PEM, not encrypted).
        client_ca: The authority whose certificates workers must present; none
            asks for no client certificate.
        insecure: Serve a host beyond loopback without TLS or a token, on a network
            that only the workers reach.
    """

    cert: Path | None = None
    key: Path | None = None
    client_ca: Path | None = None
    insecure: bool = False

    def credentials(self) -> grpc.ServerCredentials | None:
        """The TLS credentials of the files given; None for plaintext.

        Raises:
            ConfigError: Only one of the certificate and key is given, a client CA
                comes without them, a file cannot be read, or the files are no PEM
                certificate with its key (the option, rule and path named).
        """
        if self.cert is None and self.key is None:
            if self.client_ca is not None:
                raise ConfigError(
                    "--tls-client-ca needs --tls-cert and --tls-key (the proxy's own "
                    f"certificate); got --tls-client-ca {str(self.client_ca)!r} alone"
                )
            return None
        if self.cert is None or self.key is None:
            given, missing = (
                ("--tls-cert", "--tls-key") if self.cert else ("--tls-key", "--tls-cert")
            )
            path = self.cert or self.key
            raise ConfigError(f"{given} and {missing} go together; got {given} {str(path)!r} alone")
        cert, key = read_file("--tls-cert", self.cert), read_file("--tls-key", self.key)
        client_ca = None if self.client_ca is None else read_file("--tls-client-ca", self.client_ca)
        self._check_pem()
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
        )

    def _check_pem(self) -> None:
        """Refuse files gRPC would reject only at the first worker's handshake.

        Python's ``ssl`` reads the same PEM files and says which is wrong, where a
        gRPC server started with them would fail every connection without a word.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(self.cert, self.key, password=b"")
        except ssl.SSLError as error:
            raise ConfigError(
                f"--tls-cert and --tls-key must be a PEM certificate and its unencrypted key; "
                f"got {str(self.cert)!r} and {str(self.key)!r} ({error.reason})"
            ) from None
        if self.client_ca is not None:
            try:
                context.load_verify_locations(cafile=self.client_ca)
            except ssl.SSLError as error:
                raise ConfigError(
                    f"--tls-client-ca must be PEM certificates; got {str(self.client_ca)!r} "
                    f"({error.reason})"
                ) from None


def start_proxy(
    url: DatabaseURL, host: str, port: int, security: ProxySecurity | None = None
) -> grpc.Server:
    """Start serving the database at ``url`` to workers on ``host:port``.

    Returns:
        The running server; ``wait_for_termination`` serves until interrupted, and
        ``stop`` ends it.

    Optuna's :func:`optuna.storages.run_grpc_proxy_server` builds the same server
    but cannot take a second service, keepalive settings, TLS or an interceptor,
    so its two parts (the servicer and its registration) are used directly.

    Raises:
        StorageError: The database cannot be reached.
        ConfigError: ``host:port`` cannot be bound; TLS files or the token cannot
            be read; or ``host`` is beyond loopback without TLS and a token, and
            without ``insecure``.
    """
    security = security or ProxySecurity()
    credentials = security.credentials()
    token = proxy_token()
    _require_protection(host, credentials is not None, token is not None, security.insecure)
    storage = open_storage(url)
    server = grpc.server(
        ThreadPoolExecutor(max_workers=THREADS),
        interceptors=() if token is None else (_TokenCheck(token),),
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
    address = f"{host}:{port}"
    try:
        if credentials is None:
            server.add_insecure_port(address)
        else:
            server.add_secure_port(address, credentials)
    except RuntimeError:
        raise ConfigError(
            f"cannot serve on {address} (in use, or not an address of this machine); "
            "choose another --port or --host"
        ) from None
    server.start()
    return server


def _require_protection(host: str, tls: bool, token: bool, insecure: bool) -> None:
    """Refuse a host beyond loopback without TLS and a token, unless ``insecure``.

    Raises:
        ConfigError: Naming ``--host``, what is missing and ``--insecure``.
    """
    if insecure or (tls and token) or _is_loopback(host):
        return
    missing = [
        what
        for what, present in (
            ("TLS (--tls-cert, --tls-key)", tls),
            (f"a token ({TOKEN_VARIABLE} or {TOKEN_FILE_VARIABLE})", token),
        )
        if not present
    ]
    raise ConfigError(
        f"--host {host!r} serves beyond this machine, so the proxy needs TLS and a token "
        f"to let in only its workers; missing: {' and '.join(missing)} (or --insecure, on "
        "a network only the workers reach)"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any address
        return False


class _TokenCheck(grpc.ServerInterceptor):
    """Refuses, as UNAUTHENTICATED, every call without ``authorization: Bearer <token>``.

    The comparison takes the same time whatever the bytes that differ, so the
    token cannot be guessed a character at a time; the refusal never shows it.
    """

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    def __repr__(self) -> str:
        return "_TokenCheck(***)"

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        metadata = dict(handler_call_details.invocation_metadata or ())
        presented = str(metadata.get(AUTHORIZATION, "")).encode()
        if handler is None or hmac.compare_digest(presented, self._expected):
            return handler
        return _refusal(handler)


def _refusal(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same kind as ``handler`` that aborts before reading a request."""

    def refuse(request: object, context: grpc.ServicerContext) -> None:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong proxy token")

    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    return kinds[handler.request_streaming, handler.response_streaming](refuse)


class _Coordination:
    """The proxy's side of what Optuna's protocol lacks: the lock, heartbeats, slot counts."""

    def __init__(self, url: DatabaseURL, storage: optuna.storages.RDBStorage) -> None:
        self.url = url
        self.storage = storage
        self._waits: dict[str, threading.Lock] = {}
        self._waits_lock = threading.Lock()

    def handler(self) -> grpc.GenericRpcHandler:
        unary = {
            "Check": self.check,
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

    def check(self, request: dict[str, int]) -> object:
        """Nothing: a worker's first call, which the token check lets through or refuses."""
        return {}

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
