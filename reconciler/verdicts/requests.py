"""The last step of one side: a connection the rules allow, and the request on it (L7).

After ``engine`` found the allow rules (``Hit``) that match a flow's peer, protocol and port:

* a flow that asks about the connection (no ``http``, no ``dns``) is allowed by the first of
  them; when L7 rules apply to it, the reason says its requests are then checked;
* a request passes when one of the matching rules has no L7 rules for the port (an L4-only
  ``toPorts`` item: ``layer7.rst``, "the layer 7 portions of the latter rule will have no
  effect"; an L3-only rule: the L7 allow-all ``getDirectionNetworkPolicy`` gives it in
  ``pkg/envoy/xds_server.go``), or when any L7 rule of the matching rules matches it
  (``layer7.rst``: "A layer 7 request is permitted if at least one of the rules matches");
* otherwise Envoy answers 403 to an HTTP request and the DNS proxy refuses a DNS query.

Kafka and generic ``l7proto`` rules are not evaluated: a request they filter is "undecided".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.verdicts.verdict import Step

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reconciler.verdicts.l7 import L7Rules
    from reconciler.verdicts.rules import Direction, Entry, PortRule, Rule
    from reconciler.verdicts.verdict import Flow


@dataclass(frozen=True, slots=True)
class Hit:
    """An allow rule that matched a flow, and on which ``toPorts`` item (None: every port)."""

    rule: Rule
    entry: Entry
    port_rule: PortRule | None
    peer: str  # why the peer matched: "endpoints app=api"

    @property
    def path(self) -> str:
        """Where in the policy: ``spec.ingress[0].toPorts[1]``, or the entry for L3-only."""
        return self.port_rule.path if self.port_rule is not None else self.entry.path

    @property
    def where(self) -> str:
        """``shop/allow-api spec.ingress[0].toPorts[0]``."""
        return f"{self.rule.policy.display} {self.path}"

    @property
    def l7(self) -> L7Rules:
        """The L7 rules of the matching ``toPorts`` item (only for a hit that ``filters``)."""
        if self.port_rule is None or self.port_rule.l7 is None:
            msg = f"{self.where} has no L7 rules"
            raise ValueError(msg)
        return self.port_rule.l7

    @property
    def filters(self) -> bool:
        """The matching ``toPorts`` item has L7 rules (the connection goes to a proxy)."""
        return self.port_rule is not None and self.port_rule.l7 is not None


def decide_request(flow: Flow, direction: Direction, endpoint: str, hits: Sequence[Hit]) -> Step:
    """The side's decision once ``hits`` (not empty) allow the connection."""
    seen = [h for h in hits if h.port_rule is None or h.port_rule.unseen is None]
    if not seen:
        # Every matching rule depends on what the flow does not say (the TLS server name, an
        # Envoy listener's config): Cilium decides on that, this model cannot.
        unseen = hits[0].port_rule.unseen if hits[0].port_rule is not None else None
        reason = f"cannot decide: {hits[0].where} also requires {unseen}"
        return Step(direction, endpoint, "undecided", "unknown", reason)
    hits = seen
    filtering = [h for h in hits if h.filters]
    open_ = [h for h in hits if not h.filters]
    auth = next((h.entry.authentication for h in hits if h.entry.authentication), None)
    note = f"; needs mutual authentication (mode {auth})" if auth else ""
    first = open_[0] if open_ else hits[0]
    if flow.http is None and flow.dns is None:
        reason = f"allowed by {first.where} ({first.peer}, {flow.probe.text()})"
        if filtering and not open_:
            rules = filtering[0].l7.text()
            reason += f"; its requests are then checked against {rules}"
        return _allow(direction, endpoint, first, reason + note)
    if not filtering:
        reason = f"allowed by {first.where} ({first.peer}); no L7 rules, so every request passes"
        return _allow(direction, endpoint, first, reason + note)
    if open_:
        reason = (
            f"allowed by {first.where} ({first.peer}), which has no L7 rules for "
            f"{flow.probe.text()}: every request passes, whatever {filtering[0].where} says"
        )
        return _allow(direction, endpoint, first, reason + note)
    return _l7(flow, direction, endpoint, filtering, note)


def _l7(flow: Flow, direction: Direction, endpoint: str, hits: list[Hit], note: str) -> Step:
    kind = "http" if flow.http is not None else "dns"
    unsure: str | None = None
    for hit in hits:
        l7 = hit.l7
        if l7.kind != kind:
            unsure = unsure or (
                f"{hit.where} sends {flow.probe.text()} to its {l7.kind} proxy, "
                f"which this model does not evaluate for a {kind.upper()} request"
            )
            continue
        allowed, why = _matching_rule(flow, hit)
        if allowed:
            reason = f"allowed by {hit.where} ({hit.peer}; {why})"
            return _allow(direction, endpoint, hit, reason + note)
        if why is not None:
            unsure = unsure or why
    if unsure is not None:
        return Step(direction, endpoint, "undecided", "unknown", f"cannot decide: {unsure}")
    first = hits[0]
    if flow.http is not None:
        reason = (
            f"the HTTP rules of {first.where} do not match {flow.http.text()} "
            "(Envoy answers 403 Forbidden)"
        )
    else:
        reason = (
            f"the DNS rules of {first.where} do not match {flow.dns} "
            "(the DNS proxy answers REFUSED)"
        )
    return Step(direction, endpoint, "deny", "l7-denied", reason, first.rule.policy, first.path)


def _matching_rule(flow: Flow, hit: Hit) -> tuple[bool, str | None]:
    """(True, the rule) when one of the hit's L7 rules takes the request; (False, why not sure)."""
    unsure = None
    if flow.http is not None:
        for http in hit.l7.http:
            allowed = http.allows(flow.http)
            if allowed:
                return True, f"HTTP rule {http.text}"
            if allowed is None:
                unsure = unsure or f"{hit.where}: HTTP rule {http.text} compares a Secret"
    elif flow.dns is not None:
        for dns in hit.l7.dns:
            if dns.allows(flow.dns):
                return True, f"DNS rule {dns.text}"
    return False, unsure


def _allow(direction: Direction, endpoint: str, hit: Hit, reason: str) -> Step:
    return Step(direction, endpoint, "allow", "allowed", reason, hit.rule.policy, hit.path)
