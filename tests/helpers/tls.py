"""Throwaway certificates for tests of ``tuner proxy``'s TLS, made with ``openssl``.

The ``cryptography`` package is not a dependency of the project, and the
``openssl`` command is on every machine that runs the suite.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Certificates", "make_certificates", "self_signed"]


@dataclass(frozen=True)
class Certificates:
    """A certificate authority, and a server and a client certificate it signed."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*arguments: str | Path) -> None:
    subprocess.run(["openssl", *map(str, arguments)], check=True, capture_output=True)


def _signed(directory: Path, name: str, ca: Path, ca_key: Path, extensions: str) -> None:
    key, request = directory / f"{name}.key", directory / f"{name}.csr"
    _openssl(
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key,
        "-out",
        request,
        "-subj",
        f"/CN={name}",
    )
    (directory / f"{name}.ext").write_text(extensions)
    _openssl(
        "x509",
        "-req",
        "-in",
        request,
        "-CA",
        ca,
        "-CAkey",
        ca_key,
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        directory / f"{name}.crt",
        "-extfile",
        directory / f"{name}.ext",
    )


def _self_signed(cert: Path, key: Path, name: str, *extra: str) -> None:
    """An EC P-256 certificate for ``/CN=name`` signed by its own key, valid one day."""
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-keyout",
        key,
        "-out",
        cert,
        "-subj",
        f"/CN={name}",
        *extra,
    )


def make_certificates(directory: Path) -> Certificates:
    """A CA in ``directory``, a server certificate for 127.0.0.1 and localhost, a client one."""
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    _self_signed(ca, ca_key, "test-ca")
    _signed(directory, "server", ca, ca_key, "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _signed(directory, "client", ca, ca_key, "extendedKeyUsage=clientAuth\n")
    return Certificates(
        ca=ca,
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )


def self_signed(directory: Path, alt_names: str) -> tuple[Path, Path]:
    """A self-signed certificate and its key, made as docs/kubernetes.md makes the proxy's.

    Returns:
        (certificate, key) paths in ``directory``.
    """
    cert, key = directory / "self-signed.crt", directory / "self-signed.key"
    _self_signed(cert, key, "tuner-proxy", "-addext", f"subjectAltName={alt_names}")
    return cert, key
