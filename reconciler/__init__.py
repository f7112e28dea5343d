"""cilium-gitops: keeps a GitOps repository's CiliumNetworkPolicies in step with a control plane.

The flow, one pass: a source gives the desired policies (``sources``), which are validated
(``models``), rendered to canonical YAML (``render``), compared with the files in the repository
(``tree`` scans, ``plan`` decides), and applied as one commit that is pushed (``gitops``).
``sync`` is that recipe; ``cli`` is its thin front door.
"""

__version__ = "0.1.0"
