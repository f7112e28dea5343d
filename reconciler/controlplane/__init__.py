"""The control-plane edge: gRPC client, reference server, and the committed stubs.

``endpoint`` says where the control plane is and how to reach it (no grpc imported);
``client`` reads desired state and watch events from a ``ctrl.v1.ClusterService``; ``server``
is the reference control plane; ``gen/`` holds the stubs generated from ``proto/`` by
``codegen``. Only this package imports grpc and the generated stubs.

Uses ``desired``; used by ``reconcile``, ``service`` and ``commands``. Re-exports nothing:
import from the modules (grpc loads only where a control plane is used).
"""
