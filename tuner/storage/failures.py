"""Telling a lost connection from other database errors, and saying either in one line."""

from __future__ import annotations

import types

import grpc
import sqlalchemy

from tuner.storage.url import DatabaseURL

__all__ = ["connection_lost", "database_failure", "in_chain"]


def connection_lost(url: DatabaseURL, error: BaseException) -> bool:
    """Whether ``error`` is a lost PostgreSQL connection, worth reconnecting after.

    A restarting or unreachable server, or a dropped connection, passes once the
    server is back; an SQLite error (a read-only file, a full disk) does not. Behind
    a proxy, an unreachable proxy counts, and so does a database the proxy lost.
    """
    if url.is_proxy:
        call = in_chain(error, grpc.RpcError)
        return call is not None and (
            call.code() == grpc.StatusCode.UNAVAILABLE
            or "OperationalError" in (call.details() or "")
        )
    lost = sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError
    return url.driver == "postgresql" and in_chain(error, lost) is not None


def database_failure(error: BaseException) -> str | None:
    """A one-line account of a database error raised mid-command, or None for other errors.

    SQLAlchemy's and Optuna's storage errors carry the driver's message; its first
    line names what failed (never the password, which drivers do not echo).
    """
    call = in_chain(error, grpc.RpcError)
    if call is not None and isinstance(call, grpc.Call):
        details = (call.details() or call.code().name).strip().splitlines()[0]
        return f"the proxy failed: {details}"
    cause = in_chain(error, sqlalchemy.exc.SQLAlchemyError)
    if cause is None:
        return None
    reason = str(getattr(cause, "orig", None) or cause).strip().splitlines()[0]
    advice = ""
    if "readonly" in reason or "read-only" in reason:
        advice = "; make the database file and its directory writable"
    return f"the database failed: {reason}{advice}"


def in_chain(error: BaseException | None, kind: type | types.UnionType) -> BaseException | None:
    """The first exception of ``kind`` in ``error``'s chain of causes (Optuna wraps them)."""
    while error is not None:
        if isinstance(error, kind):
            return error
        error = error.__cause__ or error.__context__
    return None
