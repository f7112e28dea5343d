"""Which rules apply to an endpoint, found fast, and what the engine scans for one direction.

The engine's index (identity -> selectors -> rules -> *subjects* -> engine). Cilium looks only at
the clusterwide rules and those of the endpoint's namespace (``computePolicyEnforcementAndRules``
in ``pkg/policy/repository.go``); among those, most subject selectors name one label value
(``app: api``), so each rule is filed under one such value its subjects must carry and only the
rules filed under the endpoint's own labels, or under none, are matched in full. A large tree
of many namespaces and apps then costs a few selector matches per identity, not hundreds.

For one identity and direction, ``View`` is what the engine needs every time a flow crosses
that enforcement point: the rules in policy there, the ones that put it into default deny
(a pure default-deny policy named first), and the items that could admit or deny a peer.
Both are computed once per identity and cached.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.verdicts.selectors import NAMESPACE_KEYS, Requirement

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reconciler.verdicts.identity import Identity
    from reconciler.verdicts.rules import Direction, Entry, Rule


@dataclass(frozen=True, slots=True)
class View:
    """The rules of one endpoint for one direction, as the engine scans them."""

    broken: Rule | None  # a rule selecting it that the model could not read
    in_policy: tuple[Rule, ...]  # rules with rules in this direction
    defaulting: tuple[Rule, ...]  # those that default-deny, a pure default deny first
    entries: tuple[tuple[Rule, Entry], ...]  # the items that could match a peer


@dataclass(frozen=True, slots=True)
class _Facts:
    """What one rule says about one direction, worked out once."""

    rule: Rule
    enforces: bool
    default_denies: bool
    only_denies: bool
    entries: tuple[tuple[Rule, Entry], ...]


class _Filed:
    """The rules of one namespace (or the clusterwide ones), filed by one label value each."""

    def __init__(self, namespace: str | None) -> None:
        self.namespace = namespace
        self.everyone: list[Rule] = []  # select every pod of the namespace: no match needed
        self.by_label: dict[tuple[str, str], list[Rule]] = defaultdict(list)
        self.loose: list[Rule] = []

    def add(self, rule: Rule) -> None:
        if self._selects_every_pod(rule):
            self.everyone.append(rule)
            return
        anchor = _anchor(rule)
        if anchor is None:
            self.loose.append(rule)
        else:
            self.by_label[anchor].append(rule)

    def _selects_every_pod(self, rule: Rule) -> bool:
        """``endpointSelector: {}``: only the namespace term ``selectors.subject`` added."""
        subject = rule.subject
        if subject is None or self.namespace is None:
            return False
        only = Requirement(NAMESPACE_KEYS[0], "In", frozenset({self.namespace}))
        return subject.requirements == (only,)

    def selected(self, identity: Identity) -> list[Rule]:
        """The rules filed here that select ``identity`` (of this namespace, or any)."""
        candidates = list(self.loose)
        if self.by_label:
            for key_value in identity.pairs():
                candidates.extend(self.by_label.get(key_value, ()))
        return [*self.everyone, *(r for r in candidates if r.selects(identity, node=False))]


def _anchor(rule: Rule) -> tuple[str, str] | None:
    """A label (extended key, value) every subject of ``rule`` carries, other than the namespace."""
    if rule.subject is None or rule.subject.selects_all:
        return None
    for requirement in rule.subject.requirements:
        if (
            requirement.operator == "In"
            and len(requirement.values) == 1
            and requirement.key not in NAMESPACE_KEYS
        ):
            return requirement.key, next(iter(requirement.values))
    return None


class Subjects:
    """The rules of one revision, indexed by who they can select."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        """File every rule: host policies apart, the rest by namespace and by a label."""
        self.hosts: list[Rule] = []
        self._namespaces: dict[str | None, _Filed] = {}
        # A rule whose subject could not be read applies wherever its policy could apply.
        self._unreadable: dict[str | None, list[Rule]] = defaultdict(list)
        for rule in rules:
            namespace = rule.policy.namespace
            if rule.nodes is not None:
                self.hosts.append(rule)
            elif rule.subject is None:
                self._unreadable[namespace].append(rule)
            else:
                self._namespaces.setdefault(namespace, _Filed(namespace)).add(rule)
        self._order = {id(r): n for n, r in enumerate(rules)}
        self._selecting: dict[tuple[Identity, bool], tuple[Rule, ...]] = {}
        self._views: dict[tuple[Identity, bool, Direction], View] = {}
        self._known: dict[tuple[int, Direction], _Facts] = {}

    def selecting(self, identity: Identity, *, node: bool) -> tuple[Rule, ...]:
        """The rules whose subject is this identity (host policies for a node), in given order."""
        key = (identity, node)
        found = self._selecting.get(key)
        if found is None:
            found = self._select(identity, node=node)
            self._selecting[key] = found
        return found

    def _select(self, identity: Identity, *, node: bool) -> tuple[Rule, ...]:
        if node:
            return tuple(r for r in self.hosts if r.selects(identity, node=True))
        namespaces: list[str | None] = [None]
        if identity.namespace is not None:
            namespaces.append(identity.namespace)
        found: list[Rule] = []
        for namespace in namespaces:
            found.extend(self._unreadable.get(namespace, ()))
            filed = self._namespaces.get(namespace)
            if filed is not None:
                found.extend(filed.selected(identity))
        # One order whatever the index returned (the order the rules came in): stable reasons.
        unique = {id(r): r for r in found}
        return tuple(sorted(unique.values(), key=lambda r: self._order[id(r)]))

    def view(self, identity: Identity, *, node: bool, direction: Direction) -> View:
        """What the engine scans at this identity's ``direction`` enforcement point."""
        key = (identity, node, direction)
        found = self._views.get(key)
        if found is None:
            rules = self.selecting(identity, node=node)
            broken = next((r for r in rules if r.unknown), None)
            facts = [self._facts(r, direction) for r in rules]
            # A pure default-deny policy first: that is the one a reader looks for.
            defaulting = sorted(
                (f for f in facts if f.default_denies), key=lambda f: not f.only_denies
            )
            found = View(
                broken,
                tuple(f.rule for f in facts if f.enforces),
                tuple(f.rule for f in defaulting),
                tuple(pair for f in facts for pair in f.entries),
            )
            self._views[key] = found
        return found

    def _facts(self, rule: Rule, direction: Direction) -> _Facts:
        key = (id(rule), direction)
        found = self._known.get(key)
        if found is None:
            enforces = rule.enforces(direction)
            entries = tuple(
                (rule, entry)
                for entry in rule.entries
                if enforces and entry.direction == direction and not entry.admits_nothing
            )
            found = _Facts(
                rule, enforces, rule.default_denies(direction), rule.only_denies(direction), entries
            )
            self._known[key] = found
        return found
