"""``python -m reconciler``: the same as the ``cilium-gitops`` command."""

from reconciler.commands.cli import main

main()
