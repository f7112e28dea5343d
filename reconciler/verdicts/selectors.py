"""Label selectors as Cilium evaluates them: extended keys, and scoping to a namespace.

Second step of ``verdicts`` (identity -> selectors -> rules -> engine). A selector is the
Kubernetes ``LabelSelector`` (``matchLabels`` and ``matchExpressions`` with ``In``, ``NotIn``,
``Exists``, ``DoesNotExist``, all ANDed; an empty selector selects everything), with every key
turned into Cilium's extended key by ``labels.GetExtendedKeyFrom`` (``pkg/labels``): ``k8s:app``
becomes ``k8s.app`` and looks only at ``k8s`` labels, a key without a source becomes
``any.app``. A ``matchLabels`` key ``reserved:all`` selects every identity
(``EndpointSelector.Matches``, ``pkg/policy/api/selector.go``).

``scoped`` is ``getEndpointSelector`` of ``pkg/k8s/apis/cilium.io/utils/utils.go``: how a
``fromEndpoints``/``toEndpoints`` selector of a CiliumNetworkPolicy is confined to the policy's
namespace unless it names ``io.kubernetes.pod.namespace`` (or namespace labels), and how one of
a clusterwide policy is confined to pods (a namespace label exists).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from reconciler.verdicts.identity import NAMESPACE, NAMESPACE_LABELS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from reconciler.verdicts.identity import Identity

Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]
_OPERATORS: frozenset[str] = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})
NAMESPACE_KEYS = (f"k8s.{NAMESPACE}", f"any.{NAMESPACE}")
_NAMESPACE_LABEL_PREFIXES = (f"k8s.{NAMESPACE_LABELS}", f"any.{NAMESPACE_LABELS}")
_ALL = "reserved.all"


class SelectorError(ValueError):
    """A selector Cilium would reject (an unknown operator, ``In`` without values, ...)."""


def extended_key(raw: str, prefix: str = "") -> str:
    """``labels.GetExtendedKeyFrom``: ``k8s:app`` -> ``k8s.app``, ``app`` -> ``any.app``."""
    text = prefix + raw
    source, separator, key = text.partition(":")
    return f"{source}.{key}" if separator else f"any.{text}"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One ANDed term: ``key`` is an extended key."""

    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def holds(self, identity: Identity) -> bool:
        """Whether the identity's labels satisfy the term (Kubernetes' semantics)."""
        value = identity.get(self.key)
        if self.operator == "In":
            return value is not None and value in self.values
        if self.operator == "NotIn":
            return value is None or value not in self.values
        if self.operator == "Exists":
            return value is not None
        return value is None

    def text(self) -> str:
        """The term as ``kubectl`` would print it, with the extended key shortened."""
        key = _short(self.key)
        values = ",".join(sorted(self.values))
        if self.operator == "In":
            return f"{key}={values}" if len(self.values) == 1 else f"{key} in ({values})"
        if self.operator == "NotIn":
            return f"{key} notin ({values})"
        return key if self.operator == "Exists" else f"!{key}"


def _short(key: str) -> str:
    source, _, rest = key.partition(".")
    return rest if source == "any" else f"{source}:{rest}"


@dataclass(frozen=True, slots=True)
class Selector:
    """A compiled selector: the ANDed requirements, or everything (``reserved:all``)."""

    requirements: tuple[Requirement, ...] = ()
    selects_all: bool = False

    def matches(self, identity: Identity) -> bool:
        """Whether the identity is selected."""
        return self.selects_all or all(r.holds(identity) for r in self.requirements)

    def has_key(self, *keys: str) -> bool:
        """``EndpointSelector.HasKey`` for any of ``keys``."""
        return any(r.key in keys for r in self.requirements)

    def has_key_prefix(self, *prefixes: str) -> bool:
        """``EndpointSelector.HasKeyPrefix`` for any of ``prefixes``."""
        return any(r.key.startswith(prefixes) for r in self.requirements)

    def adding(self, requirement: Requirement) -> Selector:
        """The selector with one more term (``AddMatch``, ``AddMatchExpression``)."""
        return Selector((*self.requirements, requirement), self.selects_all)

    @property
    def is_wildcard(self) -> bool:
        """Selects every identity (an empty selector)."""
        return self.selects_all or not self.requirements

    def text(self) -> str:
        """``app=api, k8s:io.kubernetes.pod.namespace=shop``; ``{}`` for the empty selector."""
        if self.selects_all:
            return "reserved:all"
        return ", ".join(r.text() for r in self.requirements) or "{}"


WILDCARD = Selector()


def compile_selector(raw: object, prefix: str = "") -> Selector:
    """A ``LabelSelector`` mapping compiled; ``prefix`` (``k8s:``) is put before every key.

    Raises ``SelectorError`` for what the API server or Cilium rejects.
    """
    if raw is None:
        return WILDCARD
    if not isinstance(raw, dict):
        msg = f"a selector must be a mapping, not {type(raw).__name__}"
        raise SelectorError(msg)
    requirements: list[Requirement] = []
    selects_all = False
    labels = raw.get("matchLabels") or {}
    if not isinstance(labels, dict):
        msg = "matchLabels must be a mapping"
        raise SelectorError(msg)
    for key, value in labels.items():
        extended = extended_key(str(key), prefix)
        selects_all = selects_all or extended == _ALL
        requirements.append(Requirement(extended, "In", frozenset({_text(value)})))
    expressions = raw.get("matchExpressions") or []
    if not isinstance(expressions, list):
        msg = "matchExpressions must be a list"
        raise SelectorError(msg)
    requirements.extend(_expression(item, prefix) for item in expressions)
    return Selector(tuple(requirements), selects_all)


def _expression(item: Any, prefix: str) -> Requirement:  # noqa: ANN401 - raw YAML
    if not isinstance(item, dict) or not isinstance(item.get("key"), str):
        msg = "a matchExpressions item needs a key"
        raise SelectorError(msg)
    operator = item.get("operator")
    if operator not in _OPERATORS:
        msg = f"unknown matchExpressions operator {operator!r}"
        raise SelectorError(msg)
    values = item.get("values") or []
    if not isinstance(values, list):
        msg = "matchExpressions values must be a list"
        raise SelectorError(msg)
    if operator in ("In", "NotIn") and not values:
        msg = f"operator {operator} needs values"
        raise SelectorError(msg)
    if operator in ("Exists", "DoesNotExist") and values:
        msg = f"operator {operator} takes no values"
        raise SelectorError(msg)
    key = extended_key(item["key"], prefix)
    return Requirement(key, operator, frozenset(_text(v) for v in values))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def reserved(name: str) -> Selector:
    """The selector of one reserved identity label (an entity's, ``api.NewESFromLabels``)."""
    return Selector((Requirement(f"reserved.{name}", "In", frozenset({""})),))


def in_namespace(selector: Selector, namespace: str) -> Selector:
    """``AddMatch(k8s:io.kubernetes.pod.namespace, namespace)``."""
    return selector.adding(Requirement(NAMESPACE_KEYS[0], "In", frozenset({namespace})))


def scoped(
    selector: Selector, namespace: str | None, *, peer: bool = True, subject_is_init: bool = False
) -> Selector:
    """``getEndpointSelector``: a peer selector as Cilium scopes it to the policy's namespace.

    ``namespace`` is None for a clusterwide policy. ``peer`` is False for ``fromRequires`` and
    ``toRequires``, which are scoped even when they name reserved labels.
    """
    if peer and selector.has_key_prefix("reserved."):
        return selector  # "The k8s prefix must not be added to reserved labels."
    if selector.has_key(*NAMESPACE_KEYS):
        return selector  # the user named the namespace
    if namespace is None:
        if subject_is_init:
            return selector  # initializing pods have no labels, not even a namespace
        return selector.adding(Requirement(NAMESPACE_KEYS[0], "Exists"))
    if selector.has_key_prefix(*_NAMESPACE_LABEL_PREFIXES):
        return selector  # selected by namespace labels: any namespace that has them
    return in_namespace(selector, namespace)


def subject(selector: Selector, namespace: str | None) -> Selector:
    """``ParseToCiliumRule``: a CNP's endpointSelector always stays in the policy's namespace.

    An explicit namespace match that names another namespace is dropped by Cilium (with a
    warning) and replaced by the policy's own namespace.
    """
    if namespace is None:
        return selector
    kept = tuple(r for r in selector.requirements if r.key != NAMESPACE_KEYS[0])
    return in_namespace(Selector(kept, selector.selects_all), namespace)


def any_matches(selectors: Iterable[Selector], identity: Identity) -> Selector | None:
    """The first of ``selectors`` that selects ``identity``, or None."""
    for selector in selectors:
        if selector.matches(identity):
            return selector
    return None
