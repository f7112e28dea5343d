r"""The phrases every review format shares: a flow on one line, headings, labels, the summary.

Used by ``output`` (text, JSON) and ``markdown``, so a flow reads the same in a terminal and in
a pull-request comment, and a subject and a peer that are the same pods get the same label (the
Mermaid graph joins its nodes by label).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.review.flows import filters
from reconciler.review.peers import namespace_text, port_text

if TYPE_CHECKING:
    from reconciler.review.compare import Review
    from reconciler.review.flows import Flow, FlowChange

_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) != "\t"}


def visible(text: str) -> str:
    r"""``text`` with control characters shown as ``\xNN``."""
    return text.translate(_CONTROLS)


def summary(review: Review) -> str:
    """``2 policies changed (1 created, 1 updated, 0 deleted); flows: ...; 1 risk``."""
    policies = len(review.policies)
    risks = len(review.risks)
    return (
        f"{policies} {'policy' if policies == 1 else 'policies'} changed "
        f"({review.count('created')} created, {review.count('updated')} updated, "
        f"{review.count('deleted')} deleted); flows: {review.count('added')} added, "
        f"{review.count('removed')} removed, {review.count('changed')} changed; "
        f"{risks} {'risk' if risks == 1 else 'risks'}"
    )


def heading(namespace: str) -> str:
    """The heading of a namespace's group of flows."""
    if namespace == "*":
        return "all namespaces (clusterwide)"
    if namespace == "":
        return "namespace not set (wherever the policy is applied)"
    return f"namespace {namespace}"


def peer_label(flow: Flow) -> str:
    """The peer as a graph node or a table cell names it."""
    if flow.peer_kind == "any":
        return "any peer"
    if flow.peer_kind == "endpoints":
        return flow.peer
    return f"{flow.peer_kind} {flow.peer}"


def subject_label(flow: Flow) -> str:
    """The subject with its namespace, spelled as an endpoints peer is (so graphs join them)."""
    return f"{namespace_text(flow.namespace)}: {flow.subject}"


def l7_text(l7: tuple[str, ...]) -> str:
    """Conditions past L4 in one line; empty when there are none."""
    return "; ".join(l7)


def l7_change(change: FlowChange) -> str:
    """The L7 column: the conditions in force, or ``old -> new`` for a changed flow."""
    if change.change == "added":
        return l7_text(change.l7_after)
    if change.change == "removed":
        return l7_text(change.l7_before)
    # An empty side is named for what the other side had: a request filter, or only conditions
    # on how traffic is carried (mutual auth, a listener, TLS), which are no L7 filter.
    filtered = filters(change.l7_before) or filters(change.l7_after)
    nothing = "no L7 filter" if filtered else "none"
    return f"{l7_text(change.l7_before) or nothing} -> {l7_text(change.l7_after) or nothing}"


def granted_by(flows: tuple[Flow, ...]) -> str:
    """``CNP shop/web spec.ingress[0]; CCNP base spec.egress[1]``."""
    return "; ".join(f"{f.policy.display} {f.rule}" for f in flows)


def flow_line(change: FlowChange) -> str:
    """``allow ingress app=web <- endpoints shop: app=lb on TCP/80``."""
    flow = change.flow
    arrow = "<-" if flow.direction == "ingress" else "->"
    return (
        f"{flow.verdict} {flow.direction} {flow.subject} {arrow} {peer_label(flow)} "
        f"on {port_text(flow.protocol, flow.port)}"
    )
