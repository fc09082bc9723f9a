"""A private PostgreSQL cluster: initdb into a temporary directory, its own port.

Tests and benchmarks that stop or restart PostgreSQL use one of these, so the
machine's own server (127.0.0.1:5432) is never disturbed. The cluster is built
with the machine's PostgreSQL binaries (``/usr/lib/postgresql/*/bin``), listens
on a free port of 127.0.0.1 only, and trusts every local connection. PostgreSQL
refuses to run as root, so as root it runs as the ``postgres`` user.

This module needs no pytest; :func:`require_server_binaries` (for tests) imports
it when called.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = [
    "ClusterError",
    "PrivateCluster",
    "require_server_binaries",
    "server_binaries",
]

POSTGRES_ENV = "TUNER_TEST_POSTGRES_URL"
"""Set by ``.ci/run``: PostgreSQL tests must then run, not skip."""


class ClusterError(RuntimeError):
    """The cluster could not be made, started or stopped."""


def server_binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` with ``initdb`` and ``pg_ctl``, or None."""
    found = sorted(
        path.parent
        for path in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")
        if (path.parent / "initdb").exists()
    )
    return found[-1] if found else None


def require_server_binaries() -> Path:
    """For tests: the binaries; skip without them, but fail where CI asked for PostgreSQL."""
    import pytest

    bin_dir = server_binaries()
    if bin_dir is None:
        if os.environ.get(POSTGRES_ENV):
            pytest.fail(f"{POSTGRES_ENV} is set but no PostgreSQL server binaries are installed")
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin) to run one")
    return bin_dir


class PrivateCluster:
    """A PostgreSQL cluster of one's own; a context manager that starts and removes it.

    Use :attr:`url` (database ``postgres``, user ``postgres``, no password);
    :meth:`stop` and :meth:`start` it at will, :meth:`restart` it. Leaving the
    ``with`` block stops it (immediately) and deletes its directory.
    """

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or server_binaries()
        if self.bin_dir is None:
            raise ClusterError("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
        with socket.socket() as probe:  # a port nothing listens on now
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.directory: Path | None = None
        self.running = False
        self._as_owner: list[str] = []

    @property
    def version(self) -> str:
        """The server's major version, from the binaries' directory."""
        return self.bin_dir.parent.name

    @property
    def log(self) -> Path:
        """The server's log file."""
        assert self.directory is not None
        return self.directory / "log"

    def __enter__(self) -> PrivateCluster:
        self.directory = Path(tempfile.mkdtemp(prefix="tuner-pg-"))
        try:
            if os.geteuid() == 0:  # PostgreSQL refuses to run as root
                shutil.chown(self.directory, "postgres", "postgres")
                self._as_owner = ["runuser", "-u", "postgres", "--"]
            initdb = [str(self.bin_dir / "initdb"), "-D", str(self.directory / "data")]
            self._run([*initdb, "-U", "postgres", "--auth=trust", "--no-sync"])
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.running:
                self.stop("immediate")
        finally:
            if self.directory is not None:
                shutil.rmtree(self.directory, ignore_errors=True)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._pg_ctl("start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect every client; or ``immediate``) and wait."""
        self._pg_ctl("-m", mode, "stop")
        self.running = False

    def restart(self, mode: str = "fast") -> None:
        """Stop and start the server."""
        self._pg_ctl("-m", mode, "restart")
        self.running = True

    def _pg_ctl(self, *args: str) -> None:
        assert self.directory is not None
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        command = [str(self.bin_dir / "pg_ctl"), "-D", str(self.directory / "data")]
        self._run([*command, "-l", str(self.log), "-o", options, "-w", "-t", "60", *args])

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(
            [*self._as_owner, *command], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            name = Path(command[0]).name
            raise ClusterError(f"{name} {' '.join(command[1:])} failed: {done.stderr.strip()}")
