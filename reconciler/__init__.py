"""cilium-gitops: keeps a GitOps repository's CiliumNetworkPolicies in step with a control plane.

The packages, in the order of the flow (each imports only the ones after it):

* ``commands``      the command line, one module per command group;
* ``service``       the long-running controller: watch, batch, resync, health and metrics;
* ``reconcile``     one pass: sources, plan, apply, commit, push, pull-request proposals;
* ``gitops``        the git edge (the only GitPython user) and ``controlplane``, the gRPC edge;
* ``review``        what a change does to traffic (the pull-request review);
* ``verdicts``      the offline enforcement model: the verdict Cilium gives a flow, and why;
                    policy unit tests (``test``), Hubble replays (``replay``), reachability;
* ``validate``      the offline checks of policy files for CI;
* ``render``        canonical YAML and the managed tree's contract;
* ``desired``       what the control plane wants: the typed policy, the state, the events.

``errors`` (the exception tree) and ``closing`` sit under all of them. ``pyproject.toml``'s
import-linter contracts enforce the order; ``docs/architecture.md`` draws it.
"""

__version__ = "0.1.0"
