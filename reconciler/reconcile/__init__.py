"""One reconcile pass: where the state comes from, the plan, the files, the commit, the proposal.

``sources`` opens the desired state (a file, or a control plane); ``plan`` compares it with the
tree (create / update / delete / unchanged, each with a reason); ``apply`` writes a plan under
the managed root and nowhere else; ``passes`` is the pass as a recipe, with its push retry;
``description`` is a pull request's title and body in pull-request mode; ``report`` prints a
plan and its outcome as text or JSON.

Uses ``render``, ``desired``, ``review`` and the edges (``gitops``, ``controlplane``); used by
``service`` and ``commands``. Re-exports nothing: import from the modules.
"""
