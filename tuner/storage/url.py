"""The database URL: resolved here, in one place, and parsed once into a value.

``--storage`` beats the ``TUNER_STORAGE`` environment variable, which beats the
study file's ``storage`` key, which beats the default SQLite file
``storage/tuner.db``. SQLite suits workers on one machine; PostgreSQL
(``postgresql+psycopg://...``) suits many; ``grpc://HOST:PORT`` reaches a
database through ``tuner proxy``, for more workers than the database has
connections (docs/deployment.md, "`tuner proxy`").

What the rest of tuner needs to know of a URL (its driver, its file or host, its
masked form, whether it carries a password) is read once, by
:meth:`DatabaseURL.parse`, and nothing parses the text again. Parsing creates
nothing on disk: a SQLite file's directory is made when the database is opened.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from tuner.exceptions import StorageError

__all__ = ["ENVIRONMENT_VARIABLE", "DatabaseURL", "default_url", "resolve_url"]

ENVIRONMENT_VARIABLE = "TUNER_STORAGE"
PROXY_SCHEME = "grpc"
EXPECTED = "sqlite:///path/to/file.db or postgresql+psycopg://user:password@host:port/db"


@dataclass(frozen=True)
class DatabaseURL:
    """A study database's URL, parsed: what to connect to and how to show it.

    ``str()`` and ``repr()`` give the masked form, so a URL printed or logged
    by mistake never shows its password.

    Attributes:
        text: The URL as given, password included: for the database drivers only.
        driver: ``sqlite``, ``postgresql``, or ``proxy`` (a ``tuner proxy``).
        masked: The URL with its password replaced by ``***``.
        has_password: Whether the URL carries a password.
        path: The database file of a SQLite URL (``None`` for an in-memory one).
        host: The server's (or the proxy's) host; ``None`` for SQLite.
        port: Its port, the driver's default when the URL names none.
    """

    text: str = field(repr=False)
    driver: str
    masked: str
    has_password: bool = False
    path: Path | None = None
    host: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> DatabaseURL:
        """Read a SQLite, PostgreSQL or ``grpc://HOST:PORT`` URL.

        Raises:
            StorageError: The text is no such URL (the password never shown).
        """
        if text.startswith(f"{PROXY_SCHEME}://"):
            return cls._proxy(text)
        try:
            parsed = make_url(text)
        except ArgumentError:
            raise StorageError(
                f"storage {text.split('@')[-1]!r} is not a database URL; expected {EXPECTED}"
            ) from None
        masked = parsed.render_as_string(hide_password=True)
        backend = parsed.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise StorageError(
                f"storage {masked!r} uses {backend!r}; supported: sqlite, postgresql"
            )
        if backend == "sqlite":
            memory = parsed.database in (None, "", ":memory:")
            return cls(text, "sqlite", masked, path=None if memory else Path(parsed.database))
        return cls(
            text,
            "postgresql",
            masked,
            has_password=parsed.password is not None,
            host=parsed.host or "localhost",
            port=parsed.port or 5432,
        )

    @classmethod
    def _proxy(cls, text: str) -> DatabaseURL:
        parts = urllib.parse.urlsplit(text)
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None or parts.path or parts.query or parts.username:
            raise StorageError(
                f"storage {text.split('@')[-1]!r} is not a proxy address; expected "
                "grpc://HOST:PORT, as 'tuner proxy' prints it"
            )
        return cls(text, "proxy", text, host=parts.hostname, port=port)

    @classmethod
    def of(cls, url: str | DatabaseURL) -> DatabaseURL:
        """``url`` as a :class:`DatabaseURL`: parsed if it is text, as it is otherwise."""
        return url if isinstance(url, DatabaseURL) else cls.parse(url)

    def __str__(self) -> str:
        return self.masked

    @property
    def is_proxy(self) -> bool:
        """Whether the URL names a ``tuner proxy`` rather than a database."""
        return self.driver == "proxy"

    @property
    def where(self) -> str:
        """``HOST:PORT`` of a server or proxy, the file of a SQLite database."""
        if self.driver == "sqlite":
            return str(self.path or ":memory:")
        return f"{self.host}:{self.port}"

    def redact(self, text: str) -> str:
        """``text`` with this URL in it masked, so that a password is never stored."""
        return text.replace(self.text, self.masked) if self.has_password else text


def default_url() -> str:
    """The SQLite file ``storage/tuner.db`` under the current directory."""
    return f"sqlite:///{Path.cwd() / 'storage' / 'tuner.db'}"


def resolve_url(
    option: str | DatabaseURL | None, study_file_storage: str | DatabaseURL | None = None
) -> DatabaseURL:
    """``--storage``, else ``TUNER_STORAGE``, else the study file's key, else the default.

    An option already parsed is taken as it is.

    Raises:
        StorageError: The chosen URL is malformed or names an unsupported database,
            or ``option`` is neither text nor a parsed URL.
    """
    for given in (option, study_file_storage):
        if given is not None and not isinstance(given, str | DatabaseURL):
            raise StorageError(f"storage must be a database URL; got {given!r}")
    chosen = option or os.environ.get(ENVIRONMENT_VARIABLE) or study_file_storage
    return DatabaseURL.of(chosen or default_url())
