"""What the control plane wants: the first step of the flow, pure but for reading a file.

``names`` holds the names both sides agree on (API version, our label and annotations, the
managed tree's folders) and imports nothing; ``cnp_fields`` and ``cnp`` are typed models of the
whole CiliumNetworkPolicy CRD (Cilium 1.19 and 1.20); ``policy`` turns one raw entry into a
validated ``DesiredPolicy`` or the ``Rejection`` s that name what is wrong; ``state`` is the
complete ``DesiredState`` at a version and the desired-state file source; ``events`` are the
watch's apply and delete events and the ``DesiredSet`` the service holds between passes.

Imports nothing of ours but the exception tree. This ``__init__`` re-exports nothing, so that
``names`` can be read without loading pydantic: import from the modules.
"""
