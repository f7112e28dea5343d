"""Where the control plane is and how to reach it: plain values, checked, no grpc imported.

Sits in front of ``client``: the command line builds an ``Endpoint`` from a ``grpc://`` or
``grpcs://`` URL and the TLS files named by its options, without loading grpc (a file source
never needs it). ``client.GrpcSource`` opens the channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files for a ``grpcs://`` control plane: a CA bundle, a client certificate and key."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True, slots=True)
class Deadlines:
    """How long the client waits on a control plane that does not answer (seconds).

    ``call``: a call that makes no progress (no message of a list, no answer to a get) for this
    long is cut, as a retryable failure; a one-shot command then exits 1 instead of hanging.
    ``keepalive``: the watch pings an idle connection this often and drops it when a ping gets
    no answer, so a stream that went silent without closing is found and reopened. gRPC
    servers refuse pings more often than every 5 minutes by default (grpc-core's and grpc-go's
    ``min ping interval``), hence the default; lower it for a control plane that permits it.
    """

    call: float = 60.0
    keepalive: float = 300.0


@dataclass(frozen=True, slots=True)
class Access:
    """How to reach a control plane besides its URL: the token, TLS files and deadlines."""

    token: str | None = field(default=None, repr=False)
    tls: TlsFiles = field(default_factory=TlsFiles)
    deadlines: Deadlines = field(default_factory=Deadlines)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to reach the control plane."""

    target: str  # host:port
    tls: bool
    token: str | None = None
    ca: bytes | None = None  # PEM roots; None: the system's
    client_cert: bytes | None = None  # PEM chain, for mutual TLS
    client_key: bytes | None = None


def parse_endpoint(url: str, *, token: str | None, tls: TlsFiles | None = None) -> Endpoint:
    """``grpc://host:port`` (plaintext) or ``grpcs://host:port`` (TLS, with optional files)."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        # The URL is not repeated: it holds the credentials.
        msg = "--control-plane must not carry credentials; give the token with --token-file"
        raise ConfigError(msg)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in {"grpc", "grpcs"} or not parts.hostname or port is None:
        msg = f"control-plane URL {url!r} must be grpc://HOST:PORT or grpcs://HOST:PORT"
        raise ConfigError(msg)
    files = tls or TlsFiles()
    secure = parts.scheme == "grpcs"
    if not secure and (files.ca or files.cert or files.key):
        msg = "--ca-file, --client-cert and --client-key need a grpcs:// control plane"
        raise ConfigError(msg)
    if (files.cert is None) != (files.key is None):
        msg = "--client-cert and --client-key go together"
        raise ConfigError(msg)
    return Endpoint(
        f"{parts.hostname}:{port}",
        secure,
        token,
        ca=_read(files.ca),
        client_cert=_read(files.cert),
        client_key=_read(files.key),
    )


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        msg = f"{path}: cannot read: {exc.strerror}"
        raise ConfigError(msg) from None
