"""Risk flags on a review: the changes a reviewer must not let through unread.

Runs inside ``compare`` after the connectivity diff (inputs -> flows -> diff -> risks ->
formats). Each flag names the policy and rule behind it, so the reviewer can go straight to the
line. The checks:

- ``ingress-from-world``: a new allowed ingress flow from entity ``world``/``all`` (or their
  IPv4/IPv6 forms, or a peer selector that is their reserved label, ``reserved:world``), from
  ``0.0.0.0/0``/``::/0``, or from any peer (ports without peers).
- ``default-deny-lost``: a namespace (or the cluster) had a policy selecting all of its pods
  that put them in default deny for a direction, and no longer has one: deleted, narrowed, or
  set to ``enableDefaultDeny.<direction>: false`` (which the flag then names).
- ``selector-widened``: a subject or peer selector that named labels now selects every pod.
- ``l7-removed``: a flow that was filtered at L7 (HTTP, DNS, Kafka, ...) is now open at L4.
- ``auth-removed``: a flow that required mutual authentication (``authentication.mode``) is
  still allowed, without it.
- ``deny-removed``: a flow a deny rule denied is no longer denied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from reconciler.review import peers
from reconciler.review.flows import (
    Flow,
    FlowChange,
    PolicyRef,
    Rule,
    authentication,
    filters,
    policy_rules,
)
from reconciler.review.peers import EVERY_NAMESPACE, namespace_text, port_text
from reconciler.validate.documents import items

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from reconciler.review.inputs import Policy

RiskCode = Literal[
    "ingress-from-world",
    "default-deny-lost",
    "selector-widened",
    "l7-removed",
    "auth-removed",
    "deny-removed",
]
WORLD_ENTITIES = frozenset({"world", "all", "world-ipv4", "world-ipv6"})
WORLD_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
_PEER_SELECTORS = ("fromEndpoints", "toEndpoints", "fromNodes", "toNodes")


@dataclass(frozen=True, slots=True)
class Risk:
    """One flag: what, where (namespace, policy, rule) and a sentence saying why."""

    code: RiskCode
    namespace: str
    policy: PolicyRef
    rule: str
    message: str

    @property
    def order(self) -> tuple[str, ...]:
        """A sort key."""
        return (self.namespace, self.code, *self.policy.order, self.rule, self.message)


def describe(flow: Flow) -> str:
    """A flow in one line: ``ingress to app=web from entity world on TCP/80``."""
    preposition = "from" if flow.direction == "ingress" else "to"
    peer = "any peer" if flow.peer_kind == "any" else f"{flow.peer_kind} {flow.peer}"
    return (
        f"{flow.direction} {'to' if flow.direction == 'ingress' else 'from'} {flow.subject} "
        f"{preposition} {peer} on {port_text(flow.protocol, flow.port)}"
    )


def assess(
    before: Mapping[PolicyRef, Policy],
    after: Mapping[PolicyRef, Policy],
    flows: Sequence[FlowChange],
) -> list[Risk]:
    """Every risk of going from ``before`` to ``after``, one per (check, policy, rule), sorted."""
    found = [
        *_world(flows),
        *_l7_removed(flows),
        *_auth_removed(flows),
        *_deny_removed(flows),
        *_default_deny_lost(before, after),
        *_widened(before, after),
    ]
    return _merge(found)


def _merge(found: Iterable[Risk]) -> list[Risk]:
    # A rule with ten ports opened to the world is one thing to fix, not ten: keep the first
    # message and say how many more flows the same rule brings.
    grouped: dict[tuple[str, str, PolicyRef, str], list[Risk]] = {}
    for risk in sorted(found, key=lambda r: r.order):
        grouped.setdefault((risk.code, risk.namespace, risk.policy, risk.rule), []).append(risk)
    merged = []
    for group in grouped.values():
        first = group[0]
        more = len(group) - 1
        message = first.message + (f" (and {more} more like it)" if more else "")
        merged.append(Risk(first.code, first.namespace, first.policy, first.rule, message))
    return sorted(merged, key=lambda r: r.order)


def _is_world(flow: Flow) -> bool:
    if flow.peer_kind == "entity":
        return flow.peer in WORLD_ENTITIES
    if flow.peer_kind == "cidr":
        return flow.peer.split(" ")[0] in WORLD_CIDRS
    return flow.peer_kind == "any"


def _world(flows: Sequence[FlowChange]) -> Iterator[Risk]:
    for change in flows:
        flow = change.flow
        if change.change == "added" and flow.direction == "ingress" and flow.verdict == "allow":
            for grant in change.after:
                if _is_world(grant):
                    message = f"new {describe(grant)}: open to every address, outside included"
                    yield Risk(
                        "ingress-from-world", grant.namespace, grant.policy, grant.rule, message
                    )


def _l7_removed(flows: Sequence[FlowChange]) -> Iterator[Risk]:
    for grant, was in _dropped(flows, filters):
        message = f"{describe(grant)} is no longer filtered (was {'; '.join(was)})"
        yield Risk("l7-removed", grant.namespace, grant.policy, grant.rule, message)


def _auth_removed(flows: Sequence[FlowChange]) -> Iterator[Risk]:
    for grant, was in _dropped(flows, authentication):
        message = (
            f"{describe(grant)} no longer requires mutual authentication (was {'; '.join(was)})"
        )
        yield Risk("auth-removed", grant.namespace, grant.policy, grant.rule, message)


def _dropped(
    flows: Sequence[FlowChange], kind: Callable[[tuple[str, ...]], tuple[str, ...]]
) -> Iterator[tuple[Flow, tuple[str, ...]]]:
    """(grant, the conditions of ``kind`` in force before) for allowed flows that lost them all.

    Only flows still allowed: a removed flow is no risk, and neither is one whose conditions
    changed but did not go (an auth mode from test-always-fail to required, another HTTP path).
    Each grant named is one that now lets the flow through without them.
    """
    for change in flows:
        if change.change != "changed" or change.flow.verdict != "allow":
            continue
        was = kind(change.l7_before)
        if was and not kind(change.l7_after):
            yield from ((grant, was) for grant in change.after if not kind(grant.l7))


def _deny_removed(flows: Sequence[FlowChange]) -> Iterator[Risk]:
    for change in flows:
        if change.change == "removed" and change.flow.verdict == "deny":
            for grant in change.before:
                message = f"{describe(grant)} is no longer denied"
                yield Risk("deny-removed", grant.namespace, grant.policy, grant.rule, message)


def _default_denies(
    policies: Mapping[PolicyRef, Policy], *, switched_off: bool = False
) -> dict[tuple[str, str], list[tuple[PolicyRef, Rule]]]:
    """(namespace, direction) -> the rules that put every pod of it in default deny.

    With ``switched_off``, the rules selecting every pod that say ``enableDefaultDeny.<direction>:
    false`` instead: they keep no one in default deny, and may be why a namespace lost it.
    """
    found: dict[tuple[str, str], list[tuple[PolicyRef, Rule]]] = {}
    for ref, policy in policies.items():
        for rule in policy_rules(policy.data):
            if rule.subject.every_pod:
                for direction in rule.default_deny_off if switched_off else rule.default_deny:
                    key = (rule.subject.namespace, direction)
                    found.setdefault(key, []).append((ref, rule))
    return found


def _default_deny_lost(
    before: Mapping[PolicyRef, Policy], after: Mapping[PolicyRef, Policy]
) -> Iterator[Risk]:
    had, has = _default_denies(before), _default_denies(after)
    off = _default_denies(after, switched_off=True)
    # One flag per rule naming every direction it leaves open: merged by rule, a second
    # direction would read only as "and 1 more like it".
    lost: dict[tuple[str, PolicyRef, str], list[str]] = {}
    for (namespace, direction), providers in had.items():
        # A clusterwide default deny for every pod still covers each namespace.
        if (namespace, direction) in has or (EVERY_NAMESPACE, direction) in has:
            continue
        for ref, rule in providers:
            lost.setdefault((namespace, ref, rule.path), []).append(direction)
    for (namespace, ref, path), directions in lost.items():
        where = "the cluster" if namespace == EVERY_NAMESPACE else namespace_text(namespace)
        ordered = sorted(directions, key=("ingress", "egress").index)
        which = " and ".join(ordered)
        message = (
            f"{where} loses its default deny for {which}: pods no other policy "
            f"selects now accept all {which} traffic{_switched_off(off, namespace, ordered)}"
        )
        yield Risk("default-deny-lost", namespace, ref, path, message)


def _switched_off(
    off: Mapping[tuple[str, str], list[tuple[PolicyRef, Rule]]],
    namespace: str,
    directions: Iterable[str],
) -> str:
    """`` (CNP shop/a spec sets enableDefaultDeny.ingress: false)``: why, when a rule says so."""
    scopes = {namespace, EVERY_NAMESPACE}
    found = [
        f"{ref.display} {rule.path} sets enableDefaultDeny.{direction}: false"
        for direction in directions
        for scope in sorted(scopes)
        for ref, rule in off.get((scope, direction), [])
    ]
    return f" ({'; '.join(found)})" if found else ""


def _selectors(policy: Policy) -> dict[str, tuple[str, str, object]]:
    """Path -> (subject's namespace, what it selects, selector) for subject and peer selectors."""
    found: dict[str, tuple[str, str, object]] = {}
    for rule in policy_rules(policy.data):
        spec = _at(policy.data, rule.path)
        namespace = rule.subject.namespace
        for key, what in (("endpointSelector", "pod"), ("nodeSelector", "node")):
            if key in spec:
                found[f"{rule.path}.{key}"] = (namespace, what, spec[key])
        for section in ("ingress", "ingressDeny", "egress", "egressDeny"):
            for index, item in items(spec.get(section)):
                for key in _PEER_SELECTORS:
                    what = "node" if key.endswith("Nodes") else "pod"
                    for position, selector in enumerate(peers.listed(item.get(key))):
                        path = f"{rule.path}.{section}[{index}].{key}[{position}]"
                        found[path] = (namespace, what, selector)
    return found


def _at(data: Mapping[str, object], path: str) -> Mapping[str, object]:
    """The rule at ``spec`` or ``specs[i]``."""
    if path == "spec":
        value = data.get("spec")
    else:
        listed = peers.listed(data.get("specs"))
        index = int(path.removeprefix("specs[").removesuffix("]"))
        value = listed[index] if index < len(listed) else None
    return value if isinstance(value, dict) else {}


def _widened(
    before: Mapping[PolicyRef, Policy], after: Mapping[PolicyRef, Policy]
) -> Iterator[Risk]:
    for ref in sorted(before.keys() & after.keys(), key=lambda r: r.order):
        old, new = _selectors(before[ref]), _selectors(after[ref])
        for path in sorted(old.keys() & new.keys()):
            was = peers.selection(old[path][2]).full
            namespace, what, now = new[path]
            if was and not peers.selection(now).full:
                message = f"{path} selected {was}, now every {what}"
                # The rule is the item holding the selector: spec, or spec.ingress[0].
                yield Risk("selector-widened", namespace, ref, path.rsplit(".", 1)[0], message)
