"""The names both sides of the flow agree on: API group, our label and annotations, the folders.

Sits at the very bottom of the package and imports nothing, so the command line and the
validator can read these without loading the pydantic models. The control plane's side uses
them to strip what it must not carry over (our own label and annotations); the repository's side
(``render``, ``validate``, ``review``) writes and recognises them.
"""

API_VERSION = "cilium.io/v2"
# Our annotations live under this prefix; a desired policy may not set any of them.
DOMAIN = "cilium-gitops.io"
ID_ANNOTATION = f"{DOMAIN}/policy-id"
DIGEST_ANNOTATION = f"{DOMAIN}/digest"
VERSION_ANNOTATION = f"{DOMAIN}/version"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "cilium-gitops"

# The managed folder in the repository, where Flux's Kustomization points.
DEFAULT_PATH = "infrastructure/network-policies"
# The folder of the managed tree that holds clusterwide policies; namespaces have their own.
# '_' cannot start a namespace (DNS-1123), so it never collides with one.
CLUSTER_FOLDER = "_cluster"
# The file kustomize reads in every folder; Flux builds the tree from these.
KUSTOMIZATION = "kustomization.yaml"
