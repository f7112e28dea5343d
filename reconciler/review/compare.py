"""The review of a change to a set of policy files: what changed in the files and what it means.

The recipe of ``review`` (inputs -> flows -> diff -> risks -> formats): ``compare`` loads both
sides, lists the policies created, updated and deleted with a field diff of each, compares the
flows both sides allow or deny, and flags the risky changes. The result, ``Review``, is plain
data; ``output`` prints it. Pure: contents in, value out, so ``diff BASE HEAD`` in the CLI
only has to read two trees.

Connectivity is compared on the flow itself (namespace, subject, direction, verdict, peer,
protocol, port), not on the rule granting it: moving a grant from one policy to another changes
no connectivity, and a flow two policies grant stays while either does. A flow whose L7
conditions differ (an HTTP path added, a DNS pattern dropped) is "changed".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from reconciler.review import fields, inputs, risks
from reconciler.review.flows import Flow, FlowChange, PolicyRef, flows_of, policy_rules

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from reconciler.review.fields import FieldChange
    from reconciler.review.inputs import Policy
    from reconciler.review.risks import Risk
    from reconciler.verdicts.reachability import Reachability

PolicyChangeKind = Literal["created", "updated", "deleted"]

# What cilium-gitops records about its own rendering (render.DIGEST_ANNOTATION and
# VERSION_ANNOTATION): they change with every update and say nothing about traffic, so the
# field diff leaves them out, and a file whose only change is one of them is no policy change.
_BOOKKEEPING = frozenset(
    {
        'metadata.annotations["cilium-gitops.io/digest"]',
        'metadata.annotations["cilium-gitops.io/version"]',
    }
)


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """A policy that was created, updated or deleted, with every field that changed."""

    change: PolicyChangeKind
    policy: PolicyRef
    file_before: str | None
    file_after: str | None
    fields: tuple[FieldChange, ...]


@dataclass(frozen=True, slots=True)
class Review:
    """Everything a reviewer needs about one change, in a deterministic order."""

    policies: tuple[PolicyChange, ...]  # by namespace, name, kind
    flows: tuple[FlowChange, ...]  # by namespace, then the flow itself
    risks: tuple[Risk, ...]  # by namespace, check, policy, rule
    notes: tuple[str, ...]  # what the flows cannot show (fromRequires and the like)
    # "What can now reach what": the end-to-end verdicts the change flips, when the caller
    # handed over whole trees (workloads and all policies) besides the policy files.
    reach: Reachability | None = None

    @property
    def empty(self) -> bool:
        """No policy changed (so nothing else did either)."""
        return not self.policies

    def count(self, change: str) -> int:
        """How many policies (created/updated/deleted) or flows (added/removed/changed)."""
        return sum(1 for p in self.policies if p.change == change) + sum(
            1 for f in self.flows if f.change == change
        )

    def by_namespace(self) -> list[tuple[str, list[FlowChange]]]:
        """Flow changes grouped by the namespace of the pods they are about, in order."""
        groups: dict[str, list[FlowChange]] = {}
        for change in self.flows:
            groups.setdefault(change.flow.namespace, []).append(change)
        return list(groups.items())


def compare(
    before: Mapping[str, bytes],
    after: Mapping[str, bytes],
    *,
    trees: tuple[Mapping[str, bytes], Mapping[str, bytes]] | None = None,
) -> Review:
    """Review the change from ``before`` to ``after`` (relative path -> file contents).

    Only ``.yaml``, ``.yml`` and ``.json`` files are read. Raises ``ReviewInputError`` naming
    the file when one cannot be parsed or a policy is defined twice on one side. ``trees``,
    the whole repository on each side, adds the end-to-end verdicts of its workloads.
    """
    old, new = inputs.load(before), inputs.load(after)
    policies = _policy_changes(old, new)
    touched = {change.policy for change in policies}
    flows = _flow_changes(
        [f for ref in touched if ref in old for f in flows_of(old[ref].data)],
        [f for ref in touched if ref in new for f in flows_of(new[ref].data)],
        [f for ref, p in old.items() if ref not in touched for f in flows_of(p.data)],
    )
    reach = None
    if trees is not None and policies:
        from reconciler.verdicts.reachability import reachability  # noqa: PLC0415 - on demand

        reach = reachability(*trees)
    return Review(
        tuple(policies),
        tuple(flows),
        tuple(risks.assess(old, new, flows)),
        tuple(_notes(policies, old, new)),
        reach,
    )


def _policy_changes(
    old: Mapping[PolicyRef, Policy], new: Mapping[PolicyRef, Policy]
) -> list[PolicyChange]:
    found: list[PolicyChange] = []
    for ref in sorted(old.keys() | new.keys(), key=lambda r: r.order):
        was, now = old.get(ref), new.get(ref)
        before = inputs.content(was) if was else fields.ABSENT
        after = inputs.content(now) if now else fields.ABSENT
        changes = [c for c in fields.diff(before, after) if c.path not in _BOOKKEEPING]
        if not changes:
            continue
        kind: PolicyChangeKind = "created" if not was else "deleted" if not now else "updated"
        found.append(
            PolicyChange(
                kind, ref, was.file if was else None, now.file if now else None, tuple(changes)
            )
        )
    return found


def _flow_changes(
    before: Iterable[Flow], after: Iterable[Flow], unchanged: Iterable[Flow]
) -> list[FlowChange]:
    """Compare the flows of the changed policies; the others' flows keep a key alive.

    Only changed policies are expanded on both sides: the unchanged ones grant the same flows
    before and after, so they matter only where they keep a flow that a changed policy drops
    (or grant one it adds), and their grants count on both sides alike.
    """
    same = _index(unchanged)
    old, new = _index(before), _index(after)
    found: list[FlowChange] = []
    for key in old.keys() | new.keys():
        kept = same.get(key, [])
        change = FlowChange(
            _sorted([*old.get(key, []), *kept]), _sorted([*new.get(key, []), *kept])
        )
        added_or_removed = not change.before or not change.after
        if added_or_removed or change.l7_before != change.l7_after:
            found.append(change)
    return sorted(found, key=lambda c: c.flow.order)


def _index(flows: Iterable[Flow]) -> dict[tuple[str, ...], list[Flow]]:
    found: dict[tuple[str, ...], list[Flow]] = {}
    for flow in flows:
        found.setdefault(flow.key, []).append(flow)
    return found


def _sorted(flows: list[Flow]) -> tuple[Flow, ...]:
    return tuple(sorted(set(flows), key=lambda f: f.order))


def _notes(
    policies: Iterable[PolicyChange],
    old: Mapping[PolicyRef, Policy],
    new: Mapping[PolicyRef, Policy],
) -> list[str]:
    found: set[str] = set()
    for change in policies:
        for side in (old, new):
            if change.policy not in side:
                continue
            for rule in policy_rules(side[change.policy].data):
                for required in rule.requires:
                    key = "fromRequires" if required.direction == "ingress" else "toRequires"
                    found.add(
                        f"{change.policy.display} {required.rule}: {key} {required.labels} "
                        f"narrows every {required.direction} peer of {rule.subject.text}; "
                        "the flows do not show it"
                    )
    return sorted(found)
