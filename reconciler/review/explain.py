"""One policy in sentences: what it allows and denies, for a reviewer to hold against intent.

Beside ``diff`` on top of ``flows`` (peers -> flows -> diff/explain -> formats). Where ``diff``
multiplies rules out into flows, ``explain`` keeps each rule item (and each ``toPorts`` entry,
which carries its own L7 rules) as one sentence, because that is how the author wrote it::

    Pods in namespace `shop` with labels app=frontend may receive TCP port 80 from pods in the
    same namespace with labels app=lb, only HTTP GET /api/.* (spec.ingress[0]).

It also says what no flow shows: default deny switched on or explicitly off, items that admit
nobody (``{}``), and ``fromRequires``/``toRequires``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.review.flows import Clause, Rule, policy_rules, reference
from reconciler.review.peers import CARRIERS, FILTERS

if TYPE_CHECKING:
    from collections.abc import Mapping

_VERBS = {
    ("ingress", "allow"): ("may receive", "from"),
    ("egress", "allow"): ("may send", "to"),
    ("ingress", "deny"): ("may not receive", "from"),
    ("egress", "deny"): ("may not send", "to"),
}


def explain(doc: Mapping[str, Any]) -> list[str]:
    """Sentences for one CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy document."""
    ref = reference(doc)
    sentences = [f"{ref.display} ({ref.kind})."]
    for rule in policy_rules(doc):
        description = _description(doc, rule.path)
        if description:
            sentences.append(f"Its stated intent ({rule.path}): {description}")
        sentences.extend(_clause(rule, clause) for clause in rule.clauses)
        sentences.extend(_extras(rule))
    if len(sentences) == 1:
        sentences.append(
            "It has no rules (neither spec nor specs), so it allows and denies nothing."
        )
    return sentences


def _description(doc: Mapping[str, Any], path: str) -> str:
    if path == "spec":
        spec = doc.get("spec")
    else:
        specs = doc.get("specs")
        index = int(path.removeprefix("specs[").removesuffix("]"))
        spec = specs[index] if isinstance(specs, list) and index < len(specs) else None
    value = spec.get("description") if isinstance(spec, dict) else None
    return str(value).strip() if value else ""


def _clause(rule: Rule, clause: Clause) -> str:
    verb, preposition = _VERBS[clause.direction, clause.verdict]
    who = _join([peer.phrase for peer in clause.peers], "or")
    where = f"{clause.rule}.{clause.part}" if clause.part else clause.rule
    return (
        f"{rule.subject.phrase} {verb} {_ports(clause.ports)} {preposition} {who}"
        f"{_conditions(clause.l7)} ({where})."
    )


def _ports(ports: tuple[tuple[str, str], ...]) -> str:
    """``TCP port 80``, ``TCP ports 80-444``, ``any traffic``, ``port 53 over any protocol``."""
    phrases = []
    for protocol, port in ports:
        if protocol.startswith("ICMP"):
            phrases.append(f"{protocol} type {port}")
        elif port == "*":
            phrases.append("any traffic" if protocol == "ANY" else f"any {protocol} port")
        else:
            number = "ports" if "-" in port else "port"
            phrases.append(
                f"{number} {port} over any protocol"
                if protocol == "ANY"
                else f"{protocol} {number} {port}"
            )
    return _join(phrases, "and")


def _conditions(l7: tuple[str, ...]) -> str:
    only = [c for c in l7 if c.startswith(FILTERS)]
    carried = [c for c in l7 if c.startswith(CARRIERS)]
    text = f", only {_join(only, 'or')}" if only else ""
    if carried:
        text += f", with {_join(carried, 'and')}"
    return text


def _extras(rule: Rule) -> list[str]:
    """Default deny, items that admit nobody, and requirements: what flows do not show."""
    subject = rule.subject.phrase
    lowered = subject[0].lower() + subject[1:]
    found = [
        f"{subject} are in default deny for {direction}: {direction} traffic that no "
        f"policy allows is dropped ({rule.path})."
        for direction in rule.default_deny
    ]
    found.extend(
        f"This rule does not put {lowered} in default deny for {direction} "
        f"(enableDefaultDeny.{direction}: false): it only adds to what others allow "
        f"({rule.path})."
        for direction in rule.default_deny_off
    )
    found.extend(
        f"{path} names no peer, so it allows nothing by itself." for path in rule.empty_items
    )
    found.extend(
        f"Any {required.direction} {'to' if required.direction == 'ingress' else 'from'} "
        f"{lowered} also needs the peer to match {required.labels} ({required.rule})."
        for required in rule.requires
    )
    return found


def _join(parts: list[str], word: str) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} {word} {parts[-1]}"
