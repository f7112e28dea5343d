"""The control-plane edge: gRPC client, reference server, and the committed stubs.

``client`` reads desired state from a ``ctrl.v1.ClusterService``; ``server`` is the reference
control plane; ``gen/`` holds the stubs generated from ``proto/`` by ``codegen``. Only this
package imports grpc and the generated stubs.
"""
