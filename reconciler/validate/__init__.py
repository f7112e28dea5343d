"""``cilium-gitops validate``: offline checks of CiliumNetworkPolicy files for CI and reviewers.

The flow, one module per layer: ``documents`` reads files into policy documents that remember where
each node was; ``structure`` checks them against the CRD schema of a Cilium release; ``semantics``
applies the rules Cilium's Go validation enforces after apply; ``lint`` warns about legal but risky
policies; ``repository`` checks a GitOps tree as a whole. Each layer yields ``findings.Issue``
values (a rule id and a path inside one document); ``runner`` runs the layers per file (in worker
processes for large inputs) and turns them into ``findings.Finding`` with file, line and column;
``formats`` (and ``ci_formats``, with ``finding_text``) print them. The click command is
``commands.validation``.

Uses ``render`` and ``desired`` for the repository checks, never git: a hand edit's committed
"before" comes from the history reader the command passes in. Re-exports nothing: import from
the modules (a CI run starts once per job, and loads only what it uses).
"""
