"""Every use of Optuna's private internals, each with why its public API does not serve.

Optuna keeps these names private and may change them in any release, so
pyproject.toml pins Optuna below its next major version, and the test suite
exercises each use (slot counts, the proxy, packs of trials, heartbeats). When a
new Optuna breaks one, this module is the one to mend.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.storages._grpc.auto_generated import api_pb2_grpc
from optuna.storages._grpc.client import GrpcClientCache
from optuna.storages._grpc.servicer import OptunaStorageProxyService
from optuna.storages._heartbeat import BaseHeartbeat, get_heartbeat_thread
from optuna.storages._rdb import models

__all__ = [
    "FIXED_PARAMS",
    "RETRY_HISTORY",
    "BaseHeartbeat",
    "OptunaStorageProxyService",
    "api_pb2_grpc",
    "cached",
    "channel_of",
    "get_heartbeat_thread",
    "models",
    "rdb_of",
    "storage_of",
    "study_id_of",
    "trial_id_of",
    "use_channel",
]

FIXED_PARAMS = "fixed_params"
"""The system attribute where ``enqueue_trial`` keeps a queued trial's parameters: a grid
study's cursor reads which configurations queued trials took."""
RETRY_HISTORY = "retry_history"
"""The system attribute of a retried trial: the numbers of the trials it retries, which
the budget counts once (:mod:`tuner.storage.slots`)."""

# ``models``: the ORM models of Optuna's tables. Counting a study's trials by state,
# and finding a proxy's stale trials with a grace period per study, are aggregate
# queries over them; the public API only reads whole trials, which costs a claim
# time in proportion to the study (docs/benchmarks.md, "Database cost per trial").

# ``api_pb2_grpc`` and ``OptunaStorageProxyService``: the two parts of Optuna's own
# ``run_grpc_proxy_server``, which cannot take a second gRPC service (tuner's lock,
# heartbeats and slot counts) or keepalive settings.

# ``BaseHeartbeat``: Optuna starts its heartbeat thread and fails stale trials only
# for a storage that is one; the gRPC proxy client is not, so tuner's is made one.

# ``use_channel``: Optuna's gRPC proxy client opens a plaintext channel without call
# metadata in its ``_setup``; a proxy with TLS and a token needs another, so tuner's
# client overrides ``_setup`` and gives it its own channel (docs/deployment.md, "`tuner proxy`").

# ``get_heartbeat_thread``: ``study.optimize`` beats for its one trial; a pack of
# trials is asked and told directly, so it starts Optuna's thread for each trial.


def cached(storage: optuna.storages.BaseStorage) -> optuna.storages.BaseStorage:
    """``storage`` behind Optuna's cache, as Optuna advises for its gRPC proxy's server."""
    return optuna.storages._CachedStorage(storage)


def rdb_of(storage: optuna.storages.BaseStorage) -> optuna.storages.BaseStorage:
    """The storage a study wraps in Optuna's cache (``_CachedStorage._backend``), unwrapped.

    A study's storage is cached; counting its trials by SQL needs the database
    storage under the cache, which has no public accessor.
    """
    if isinstance(storage, optuna.storages._CachedStorage):
        return storage._backend
    return storage


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """A study's storage (``Study._storage``): a loaded study offers no public accessor."""
    return study._storage


def study_id_of(study: optuna.Study) -> int:
    """A study's id in its storage (``Study._study_id``), which storage calls take."""
    return study._study_id


def trial_id_of(trial: optuna.Trial) -> int:
    """A trial's id in its storage (``Trial._trial_id``), for heartbeats and state checks."""
    return trial._trial_id


def channel_of(proxy: optuna.storages.GrpcStorageProxy) -> Any:
    """The gRPC channel of Optuna's proxy client (``_channel``), for tuner's calls beside it.

    Opening a second channel per worker would double the connections to the proxy.
    """
    return proxy._channel


def use_channel(proxy: optuna.storages.GrpcStorageProxy, channel: Any) -> None:
    """Make Optuna's proxy client use ``channel`` (its ``_channel``, ``_stub`` and ``_cache``).

    Optuna's client takes no credentials, so TLS and the token come in through
    the channel it is given.
    """
    proxy._channel = channel
    proxy._stub = api_pb2_grpc.StorageServiceStub(channel)
    proxy._cache = GrpcClientCache(proxy._stub)
