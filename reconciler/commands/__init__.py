"""The command line: one module per command group, each thin over the package that does it.

``cli`` is the ``cilium-gitops`` group and the console script's ``main``; ``options`` holds
where option values come from (flags, ``CILIUM_GITOPS_*``, ``--config``), the shared options
and the exit codes; ``wiring`` builds the packages' settings from them. The commands: ``sync``
(``sync``, ``render``), ``run``, ``demo`` (its script: ``walkthrough``), ``validation``
(``validate``), ``diff`` (``diff``, ``explain``), ``policy_test`` (``test``), ``replay``,
``history`` and ``control_plane`` (``control-plane serve``).

The top of the import graph: nothing of ours imports it. Exports ``main``.
"""

from reconciler.commands.cli import main

__all__ = ["main"]
