"""The long-running service: watch, batch, resync, and its health, metrics and logs.

``controller`` runs the watch loop and the worker that reconciles each batch and resyncs on
schedule; ``breaker`` is the circuit breaker of the control-plane connection; ``health`` serves
``/healthz``, ``/readyz``, ``/status`` and Prometheus ``/metrics``; ``logs`` formats the log
(JSON lines unless stderr is a terminal).

Uses ``reconcile`` (and through it the edges); used by ``commands``. Re-exports nothing: import
from the modules.
"""
