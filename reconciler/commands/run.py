"""``cilium-gitops run``: the long-running service, until SIGTERM or SIGINT.

Thin over ``service``: the shared options become the pass's settings (``wiring``), the
service's own become ``RunSettings``, and ``service.controller.Controller`` does the rest,
with ``service.health`` answering probes and scrapes when ``--http-address`` is given.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import click

from reconciler.commands.options import EXIT_USAGE, fail, git_options, guard, option, source_options
from reconciler.commands.wiring import access, pass_setup
from reconciler.scrub import redact

log = logging.getLogger("cilium_gitops")


@click.command("run")
@source_options
@git_options
@option(
    "batch-window",
    type=click.FloatRange(0),
    default=1.0,
    show_default=True,
    help="Seconds without a new event that close a batch (one commit per batch).",
)
@option(
    "batch-max-wait",
    type=click.FloatRange(0),
    default=10.0,
    show_default=True,
    help="Longest a batch stays open while events keep arriving (each extends the window).",
)
@option(
    "resync-interval",
    type=click.FloatRange(1),
    default=300.0,
    show_default=True,
    help="Seconds between full resyncs (jittered by 10%).",
)
@option(
    "stalled-retry-interval",
    type=click.FloatRange(1),
    default=300.0,
    show_default=True,
    help="While stalled (a person must act: see /status), try again this often, and at once "
    "when an event arrives.",
)
@option(
    "http-address",
    default=None,
    metavar="HOST:PORT",
    help="Serve /healthz, /readyz and /metrics here (e.g. 0.0.0.0:8080) [default: off].",
)
def run_service(**kw: Any) -> None:  # noqa: ANN401 - click passes the options as keywords
    """Run the service: follow the control plane's stream, batch, commit, resync; until stopped."""
    # First: a SIGTERM during start-up (a pod deleted as it starts) is a clean stop too.
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    from reconciler.gitops import Workspace  # noqa: PLC0415 - grpc and git on demand
    from reconciler.reconcile.sources import open_source  # noqa: PLC0415
    from reconciler.render.templates import load_templates  # noqa: PLC0415
    from reconciler.service.controller import Controller  # noqa: PLC0415
    from reconciler.service.health import serve_http  # noqa: PLC0415
    from reconciler.service.run_settings import RunSettings  # noqa: PLC0415

    if not kw["control_plane"].startswith(("grpc://", "grpcs://")):
        fail(EXIT_USAGE, "run needs a streaming control plane: --control-plane grpc://HOST:PORT")
    setup = pass_setup(kw)
    run_settings = RunSettings(
        batch_window=kw["batch_window"],
        max_batch_wait=kw["batch_max_wait"],
        resync_interval=kw["resync_interval"],
        max_delete_share=kw["max_delete_share"],
        stalled_retry_interval=kw["stalled_retry_interval"],
    )

    def serve() -> None:
        templates = load_templates(kw["templates"])
        source = open_source(
            kw["control_plane"],
            region=kw["region"],
            limits=setup.options.limits,
            access=access(kw, setup.control_plane_token),
        )
        with Workspace(setup.workdir, setup.settings) as workspace:
            controller = Controller(
                source,  # type: ignore[arg-type]
                workspace,
                templates,
                setup.options,
                run_settings,
                stop=stop,
            )
            if kw["http_address"]:
                metrics, ready = controller.metrics, controller.is_ready
                _, port = serve_http(kw["http_address"], metrics, ready, controller.describe)
                log.warning("http: /healthz /readyz /metrics on port %d", port)
            log.warning(
                "running: %s -> %s",
                redact(kw["control_plane"], setup.secrets),
                redact(kw["repo"], setup.secrets),
            )
            controller.run()

    guard(serve, secrets=setup.secrets)
    log.warning("stopped")
