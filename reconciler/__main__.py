"""``python -m reconciler``: the same as the ``cilium-gitops`` command."""

from reconciler.cli import main

main()
