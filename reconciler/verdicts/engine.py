"""The offline enforcement model: the verdict Cilium gives a flow, and which rule decided it.

The heart of ``verdicts`` (identity -> selectors -> rules -> *engine*). For each side a flow
crosses (the source's egress, then the destination's ingress) the model follows the agent:

1. *Who is in policy* (``computePolicyEnforcementAndRules``, ``pkg/policy/repository.go``):
   the rules that select the endpoint, clusterwide ones and those of its namespace; it is in
   policy for a direction when one of them has rules there (allow or deny), and in default
   deny when one of those does not set ``enableDefaultDeny`` to false. Only such
   default-allow rules: Cilium adds an allow-all rule, which does not open L7 (``intro.rst``,
   the warning under "Endpoint default policy"). An endpoint with ``reserved:init`` is always
   in default deny. A node is in policy only through host policies (``nodeSelector``, with
   the host firewall on).
2. *Deny first* (``deny.rst``): a matching ``ingressDeny``/``egressDeny`` rule denies whatever
   the allow rules say, in any kind of policy.
3. *The local host*: with ``--allow-localhost`` at its default, a pod's node may always reach
   it (``layer3.rst``, "Access to/from local host"), at L7 too (``mergeIngress``, ``rule.go``).
4. *Allow rules*: the peer must be selected, and the protocol and port covered.
   ``toFQDNs`` only selects addresses Cilium learned from DNS answers, which its DNS proxy
   sees only when the source's egress has a ``rules.dns`` rule that matches the name
   (``layer3.rst``, "DNS based").
5. *L7*: a request (HTTP, DNS) on an allowed connection is checked against the L7 rules of
   the allow rules that matched; any matching rule without L7 rules on that port (an L4 rule,
   or an L3-only rule: ``getDirectionNetworkPolicy`` in ``pkg/envoy/xds_server.go`` gives
   those an L7 allow-all) lets every request through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from reconciler.verdicts.requests import Hit, decide_request
from reconciler.verdicts.rules import subject_cluster
from reconciler.verdicts.subjects import Subjects, View
from reconciler.verdicts.verdict import Step, combine

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from reconciler.verdicts.identity import Endpoint, Identity
    from reconciler.verdicts.ports import Probe
    from reconciler.verdicts.rules import Direction, Entry, PortRule, Rule
    from reconciler.verdicts.verdict import Flow, Verdict

Enforcement = Literal["default", "always", "never"]


@dataclass(frozen=True, slots=True)
class Options:
    """The agent settings that change verdicts; the defaults are Cilium's."""

    enforcement: Enforcement = "default"  # policyEnforcementMode
    allow_localhost: bool = True  # --allow-localhost auto/always (policy: False)
    host_firewall: bool | None = None  # hostFirewall.enabled; None: on when host policies exist


@dataclass(slots=True)
class _Scan:
    """What the rules of one side said about a flow."""

    denied: tuple[Rule, Entry, str] | None = None
    hits: list[Hit] | None = None
    unsure: str | None = None  # an allow rule the model could not evaluate that might match
    unsure_deny: str | None = None  # likewise a deny rule: it would win over any allow
    near_miss: str | None = None  # a toFQDNs rule that would match but for the DNS proxy


class Engine:
    """Verdicts for flows under one set of policies (one revision of a repository)."""

    def __init__(self, rules: Iterable[Rule], options: Options | None = None) -> None:
        """Index the rules (``subjects``); identities are cached as flows ask about them."""
        self.options = options or Options()
        self.rules = tuple(rules)
        self.subjects = Subjects(self.rules)
        firewall = self.options.host_firewall
        self.host_firewall = bool(self.subjects.hosts) if firewall is None else firewall
        self._own: dict[Endpoint, Identity] = {}
        self._seen: dict[tuple[Endpoint, str | None], Identity] = {}

    def evaluate(self, flow: Flow) -> Verdict:
        """The verdict for ``flow``: the source's egress, the destination's ingress, combined."""
        egress = self.side(flow, "egress")
        ingress = self.side(flow, "ingress")
        return combine(egress, ingress)

    def own(self, endpoint: Endpoint) -> Identity:
        """The identity policies select ``endpoint`` by (cached)."""
        found = self._own.get(endpoint)
        if found is None:
            found = self._own[endpoint] = endpoint.own_identity()
        return found

    def seen(self, peer: Endpoint, observer: Endpoint) -> Identity:
        """The identity ``observer`` sees ``peer`` as (cached; only a node's depends on where)."""
        key = (peer, observer.node if peer.is_node else None)
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = peer.seen_by(observer)
        return found

    def selecting(self, endpoint: Endpoint) -> tuple[Rule, ...]:
        """The rules whose subject is ``endpoint`` (host policies for a node)."""
        return self.subjects.selecting(self.own(endpoint), node=endpoint.is_node)

    def side(self, flow: Flow, direction: Direction) -> Step:
        """One enforcement point's decision: the source's egress or the destination's ingress."""
        subject, peer = (
            (flow.source, flow.destination)
            if direction == "egress"
            else (flow.destination, flow.source)
        )
        skipped = self._unenforced(subject, direction)
        if skipped is not None:
            return skipped
        own = self.own(subject)
        view = self.subjects.view(own, node=subject.is_node, direction=direction)
        if view.broken is not None:
            broken = view.broken
            reason = (
                f"cannot decide: {broken.policy.display} {broken.unknown} "
                "(see cilium-gitops validate)"
            )
            return Step(
                direction, subject.name, "undecided", "unknown", reason, broken.policy, broken.path
            )
        always = self.options.enforcement == "always" or own.has_reserved("init")
        if not view.in_policy and not always:
            reason = f"no policy selects {subject.name} for {direction}"
            return Step(direction, subject.name, "allow", "no-policy", reason)
        scan = self._scan(flow, subject, peer, view)
        return self._decide(flow, direction, subject, peer, view, scan=scan, always=always)

    def _unenforced(self, subject: Endpoint, direction: Direction) -> Step | None:
        if self.options.enforcement == "never":
            return Step(
                direction,
                subject.name,
                "allow",
                "not-enforced",
                "policy enforcement is off (never)",
            )
        if not subject.managed:
            reason = (
                f"{subject.name} is not a Cilium endpoint: nothing is enforced at its {direction}"
            )
            return Step(direction, subject.name, "allow", "not-enforced", reason)
        if subject.is_node and not self.host_firewall:
            reason = f"{subject.name} is a node, and no host policy (nodeSelector) is in the tree"
            return Step(direction, subject.name, "allow", "not-enforced", reason)
        return None

    def _scan(self, flow: Flow, subject: Endpoint, peer: Endpoint, view: View) -> _Scan:
        scan = _Scan(hits=[])
        peer_id = self.seen(peer, subject)
        cluster = subject_cluster(self.own(subject))
        named = flow.destination.named_port
        for rule, entry in view.entries:
            ports = _port_hits(entry, flow.probe, named)
            if not ports:
                continue
            why = entry.peers.match(peer_id, subject_cluster=cluster)
            if why is None and entry.peers.fqdns:
                why = self._fqdn(flow, entry, peer_id, scan)
            if why is None:
                if entry.peers.unknown:
                    unsure = f"{rule.policy.display} {entry.path} uses {entry.peers.unknown}"
                    if entry.deny:
                        scan.unsure_deny = scan.unsure_deny or unsure
                    else:
                        scan.unsure = scan.unsure or unsure
                continue
            if entry.deny:
                scan.denied = (rule, entry, why)
                return scan
            assert scan.hits is not None  # noqa: S101 - set above, for mypy
            scan.hits.extend(Hit(rule, entry, p, why) for p in ports)
        return scan

    def _fqdn(self, flow: Flow, entry: Entry, peer_id: Identity, scan: _Scan) -> str | None:
        names = [n for n in sorted(peer_id.names) if any(r.allows(n) for r in entry.peers.fqdns)]
        if not names or not peer_id.is_world:
            return None
        for name in names:
            if self.dns_visible(flow.source, name):
                rule = next(r for r in entry.peers.fqdns if r.allows(name))
                return f"toFQDNs {rule.text} ({name}, learned through the DNS proxy)"
        if scan.near_miss is None:
            scan.near_miss = (
                f"toFQDNs in {entry.path} matches {names[0]}, but no egress rule of "
                f"{flow.source.name} sends its DNS lookups of it through the DNS proxy "
                "(toPorts with rules.dns matching the name), so Cilium never learns its addresses"
            )
        return None

    def dns_visible(self, source: Endpoint, name: str) -> bool:
        """Whether ``source``'s DNS lookups of ``name`` go through Cilium's DNS proxy."""
        for rule in self.selecting(source):
            for entry in rule.entries:
                if entry.direction != "egress" or entry.deny:
                    continue
                for port_rule in entry.port_rules:
                    l7 = port_rule.l7
                    if l7 is not None and l7.kind == "dns" and any(r.allows(name) for r in l7.dns):
                        return True
        return False

    def _decide(  # noqa: PLR0913 - one side's facts, gathered by side()
        self,
        flow: Flow,
        direction: Direction,
        subject: Endpoint,
        peer: Endpoint,
        view: View,
        *,
        scan: _Scan,
        always: bool,
    ) -> Step:
        name = subject.name
        if scan.denied is not None:
            rule, entry, why = scan.denied
            reason = f"denied by {rule.policy.display} {entry.path} ({why}, {flow.probe.text()})"
            return Step(direction, name, "deny", "deny-rule", reason, rule.policy, entry.path)
        step = self._allowed_or_default(
            flow, direction, subject, peer, view, scan=scan, always=always
        )
        # A rule the model cannot read matters only where it could change the answer: a deny
        # rule where the rest allows, an allow rule where the rest denies.
        unsure = scan.unsure_deny if step.decision == "allow" else scan.unsure
        if unsure is not None:
            return Step(direction, name, "undecided", "unknown", f"cannot decide: {unsure}")
        return step

    def _allowed_or_default(  # noqa: PLR0913 - one side's facts, gathered by side()
        self,
        flow: Flow,
        direction: Direction,
        subject: Endpoint,
        peer: Endpoint,
        view: View,
        *,
        scan: _Scan,
        always: bool,
    ) -> Step:
        name = subject.name
        localhost = self._localhost(direction, subject, peer)
        if localhost is not None:
            return localhost
        if scan.hits:
            return decide_request(flow, direction, name, scan.hits)
        if view.defaulting or always:
            return _default_deny(flow, direction, subject, view.defaulting, scan.near_miss)
        first = view.in_policy[0]
        reason = (
            f"only policies with enableDefaultDeny.{direction}: false select {name} "
            f"({first.policy.display}), so Cilium allows what no rule denies"
        )
        return Step(direction, name, "allow", "default-allow", reason, first.policy, first.path)

    def _localhost(self, direction: Direction, subject: Endpoint, peer: Endpoint) -> Step | None:
        if direction != "ingress" or subject.is_node or not self.options.allow_localhost:
            return None
        if not self.seen(peer, subject).has_reserved("host"):
            return None
        reason = f"{subject.name}'s own node may always reach it (--allow-localhost, the default)"
        return Step(direction, subject.name, "allow", "localhost", reason)


def _port_hits(
    entry: Entry, probe: Probe, named: Callable[[str], tuple[int, str] | None]
) -> list[PortRule | None]:
    """The ``toPorts`` items of ``entry`` that cover the flow (None: every port, or ICMP)."""
    if entry.l3_only:
        return [None]
    found: list[PortRule | None] = [
        p for p in entry.port_rules if any(m.matches(probe, named) for m in p.ports)
    ]
    if any(i.matches(probe) for i in entry.icmps):
        found.append(None)
    return found


def _default_deny(
    flow: Flow,
    direction: Direction,
    subject: Endpoint,
    defaulting: tuple[Rule, ...],
    near_miss: str | None,
) -> Step:
    if defaulting:
        first = defaulting[0]  # a pure default-deny policy when there is one (subjects.View)
        others = len({r.policy for r in defaulting}) - 1
        also = f" (and {others} more)" if others > 0 else ""
        why = f"{first.policy.display}{also} puts {subject.name} into default deny for {direction}"
        policy, path = first.policy, first.path
    else:
        why = f"{subject.name} is always in default deny"
        policy, path = None, None
    other = flow.source.name if direction == "ingress" else flow.destination.name
    reason = f"default deny: {why}, and no rule allows {other} on {flow.probe.text()}"
    if near_miss:
        reason += f"; {near_miss}"
    return Step(direction, subject.name, "deny", "default-deny", reason, policy, path)
