"""``cilium-gitops control-plane serve``: the reference control plane as a process.

A command module: it loads a desired-state file (the file source's format), serves it over
``ctrl.v1.ClusterService``, and re-reads the file whenever it changes, streaming the differences
as apply and delete events with new versions. It stops cleanly on SIGINT and SIGTERM.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import click

from reconciler.errors import CiliumGitopsError

# How often the state file's stat is checked for a change (seconds).
_WATCH_INTERVAL = 0.2


@click.group("control-plane")
def control_plane() -> None:
    """The reference control plane (for the demo, tests and local trials)."""


@control_plane.command()
@click.option(
    "--state",
    "state_file",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Desired-state file to serve; edits are streamed as they are saved.",
)
@click.option("--listen", default="127.0.0.1:0", show_default=True, help="HOST:PORT (0: any free).")
@click.option(
    "--token",
    envvar="CILIUM_GITOPS_CONTROL_PLANE_TOKEN",
    show_envvar=True,
    default=None,
    help="Require this bearer token from clients.",
)
@click.option("--history-limit", type=click.IntRange(1), default=None, help="Events kept.")
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Serve TLS with this PEM certificate chain (with --tls-key).",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="PEM private key of --tls-cert.",
)
@click.option(
    "--legacy",
    is_flag=True,
    default=False,
    help="Act like an older control plane: no List extension, no delete events.",
)
def serve(  # noqa: PLR0913, PLR0917 - click passes one parameter per option
    state_file: Path,
    listen: str,
    token: str | None,
    history_limit: int | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    legacy: bool,
) -> None:
    """Serve a desired-state file over gRPC until interrupted."""
    from reconciler.controlplane.server import ReferenceControlPlane, start  # noqa: PLC0415

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("must be HOST:PORT", param_hint="--listen")
    servicer = ReferenceControlPlane(token=token, history_limit=history_limit, legacy=legacy)
    try:
        servicer.load_file(state_file)
    except CiliumGitopsError as exc:
        raise click.ClickException(str(exc)) from None
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    tls = (tls_key.read_bytes(), tls_cert.read_bytes()) if tls_cert and tls_key else None
    running = start(servicer, host=host, port=int(port), tls=tls)
    scheme = "grpcs" if tls else "grpc"
    click.echo(
        f"listening on {scheme}://{host}:{running.port} (version {servicer.version})", err=True
    )
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:  # noqa: ANN401 - signal's frame type
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    seen = _stat(state_file)
    while not stop.wait(_WATCH_INTERVAL):
        now = _stat(state_file)
        if now == seen:
            continue
        seen = now
        try:
            version = servicer.load_file(state_file)
        except CiliumGitopsError as exc:
            # A half-saved or broken file: keep serving the last good state.
            click.echo(f"not reloaded: {exc}", err=True)
            continue
        click.echo(f"reloaded {state_file}: version {version}", err=True)
    running.stop()
    click.echo("stopped", err=True)


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)
