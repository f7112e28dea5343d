"""Where a pass's desired state comes from: a file, or a control plane over gRPC.

Sits at the start of a pass, and joins the two sources behind one interface: ``open_source``
picks by URL scheme (``file://PATH`` or a plain path; ``grpc://`` or ``grpcs://``). The file
source lives with the desired state's model (``desired.state``); the gRPC one is the control
plane's edge (``controlplane.client``), imported only when a control plane is actually used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from reconciler.desired.limits import Limits
from reconciler.desired.state import FileSource
from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from reconciler.controlplane.endpoint import Access
    from reconciler.desired.record import Admit
    from reconciler.desired.state import DesiredState, Source


def read_state(
    url: str,
    admit: Admit,
    *,
    region: str | None,
    limits: Limits | None = None,
    access: Access | None = None,
) -> DesiredState:
    """Open the source for ``url``, read the whole desired state once, and close it."""
    source = open_source(url, region=region, limits=limits, access=access)
    try:
        return source.desired(admit)
    finally:
        source.close()


def open_source(
    url: str, *, region: str | None, limits: Limits | None = None, access: Access | None = None
) -> Source:
    """Pick the source for ``url``: ``file://PATH`` (or a plain path), ``grpc(s)://HOST:PORT``."""
    limits = limits or Limits()
    parts = urlsplit(url)
    if parts.scheme in {"", "file"}:
        raw = unquote(parts.netloc + parts.path) if parts.scheme else url
        if not raw:
            msg = "--control-plane file:// needs a path, e.g. file://desired-state.yaml"
            raise ConfigError(msg)
        return FileSource(Path(raw), region=region, limits=limits)
    if parts.scheme in {"grpc", "grpcs"}:
        # Imported here: grpc is only loaded when a control plane is actually used.
        from reconciler.controlplane.client import GrpcSource  # noqa: PLC0415
        from reconciler.controlplane.endpoint import Access, parse_endpoint  # noqa: PLC0415

        access = access or Access()
        endpoint = parse_endpoint(url, token=access.token, tls=access.tls)
        return GrpcSource(endpoint, region=region, limits=limits, deadlines=access.deadlines)
    msg = f"unsupported --control-plane scheme {parts.scheme!r}; use file://PATH or grpc://"
    raise ConfigError(msg)
