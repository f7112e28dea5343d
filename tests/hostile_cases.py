"""The hostile desired-state entries: each must be rejected by its id and field, alone.

One case per way a control plane or a desired-state file can be wrong, drawn from what users
and broken control planes send: wrong types, names Kubernetes refuses, values the API server
would refuse (and so break Flux's apply of every policy beside them), forged ids, oversized
content. ``field`` is the field the rejection names; ``reason`` a piece of its reason.
Where the expectation comes from Kubernetes or the CRD, the case says so.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

REGION = "eu-west-1"
BODY: dict[str, Any] = {
    "endpointSelector": {"matchLabels": {"app": "api"}},
    "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "web"}}]}],
}


def body(**changes: Any) -> dict[str, Any]:
    """The valid body with top-level keys changed (``None`` removes one)."""
    result = copy.deepcopy(BODY)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def ingress_port(port: Any, **more: Any) -> dict[str, Any]:
    return body(ingress=[{"toPorts": [{"ports": [{"port": port, **more}]}]}])


def full(**parts: Any) -> dict[str, Any]:
    """A full object (apiVersion, kind, metadata, spec), parts overridden."""
    obj: dict[str, Any] = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {},
        "spec": copy.deepcopy(BODY),
    }
    obj.update(parts)
    return obj


NOT_RAW = object()


@dataclass(frozen=True)
class Case:
    """One hostile entry and the rejection it must get."""

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)  # entry fields; None removes
    field: str = ""
    reason: str = ""
    raw: Any = NOT_RAW  # the whole entry, when it is not a mapping at all
    id_shown: str | None = None  # the id the rejection names, when not h-<name>

    @property
    def file_name(self) -> str:
        """The entry's ``name``: the case's, made a DNS-1123 name so only the case's flaw shows."""
        return self.name.lower().replace(".", "-")

    def entry(self) -> Any:
        if self.raw is not NOT_RAW:
            return copy.deepcopy(self.raw)
        result: dict[Any, Any] = {
            "id": f"h-{self.name}",
            "namespace": "hostile",
            "name": self.file_name,
            "region": REGION,
            "policy": copy.deepcopy(BODY),
        }
        for key, value in copy.deepcopy(self.overrides).items():
            if value is None:
                result.pop(key, None)
            else:
                result[key] = value
        return result


DNS_LABEL = "DNS-1123 label"
SUBDOMAIN = "DNS-1123 subdomain"
ID_RULE = "printable ASCII characters without spaces"
QUALIFIED = "not a qualified name"

CASES: list[Case] = [
    # -- the entry's shape --------------------------------------------------------------------
    Case("entry-is-a-string", raw="just text", field="@", reason="must be a mapping"),
    Case("entry-is-a-list", raw=[1, 2], field="@", reason="must be a mapping"),
    Case("entry-is-null", raw=None, field="@", reason="must be a mapping"),
    Case("unknown-entry-field", {"polcy": {}}, field="polcy", reason="unknown field"),
    Case("integer-key", {7: "x"}, field="7", reason="unknown field"),
    # -- the id: one line of printable ASCII, so it cannot forge a log line or a trailer --
    Case("missing-id", {"id": None}, field="id", reason="required", id_shown="@"),
    Case("empty-id", {"id": ""}, field="id", reason="required", id_shown="@"),
    Case(
        "id-forges-a-line",
        {"id": "a\nrejected: forged: x: y"},
        field="id",
        reason=ID_RULE,
        id_shown="a\nrejected: forged: x: y",
    ),
    Case("id-with-ansi", {"id": "\x1b[31mred"}, field="id", reason=ID_RULE, id_shown="\x1b[31mred"),
    Case("id-too-long", {"id": "i" * 300}, field="id", reason=ID_RULE, id_shown="i" * 300),
    Case("id-is-a-number", {"id": 42}, field="id", reason="valid string", id_shown="@"),
    Case("id-is-a-list", {"id": ["a"]}, field="id", reason="valid string", id_shown="@"),
    Case("id-with-space", {"id": "a b"}, field="id", reason=ID_RULE, id_shown="a b"),
    # -- namespace and name: DNS-1123, as the API server validates them -----------------------
    Case("namespace-uppercase", {"namespace": "Shop"}, field="namespace", reason=DNS_LABEL),
    Case("namespace-64-chars", {"namespace": "n" * 64}, field="namespace", reason=DNS_LABEL),
    Case("namespace-traversal", {"namespace": "../etc"}, field="namespace", reason=DNS_LABEL),
    Case("namespace-dotdot", {"namespace": ".."}, field="namespace", reason=DNS_LABEL),
    Case("namespace-is-a-list", {"namespace": ["shop"]}, field="namespace", reason="string"),
    Case("namespace-with-newline", {"namespace": "a\nb"}, field="namespace", reason=DNS_LABEL),
    Case("name-with-slash", {"name": "a/b"}, field="name", reason=SUBDOMAIN),
    Case("name-traversal", {"name": "../../../etc/passwd"}, field="name", reason=SUBDOMAIN),
    Case("name-251-chars", {"name": "n" * 251}, field="name", reason="255-byte file-name limit"),
    Case("name-254-chars", {"name": "n" * 254}, field="name", reason=SUBDOMAIN),
    Case("name-kustomization", {"name": "kustomization"}, field="name", reason="collide"),
    Case("name-uppercase", {"name": "Api"}, field="name", reason=SUBDOMAIN),
    Case("name-dot-only", {"name": "."}, field="name", reason=SUBDOMAIN),
    Case("name-empty", {"name": ""}, field="name", reason=SUBDOMAIN),
    Case("name-missing", {"name": None}, field="name", reason="required"),
    Case("name-with-newline", {"name": "a\nkind: Secret"}, field="name", reason=SUBDOMAIN),
    # -- region and version -------------------------------------------------------------------
    Case("region-is-a-list", {"region": [REGION]}, field="region", reason="string"),
    Case("version-negative", {"version": -1}, field="version", reason="greater than"),
    Case("version-a-string", {"version": "7"}, field="version", reason="valid integer"),
    Case("version-a-boolean", {"version": True}, field="version", reason="valid integer"),
    Case("version-a-float", {"version": 1.5}, field="version", reason="valid integer"),
    # -- the policy's shape -------------------------------------------------------------------
    Case("policy-missing", {"policy": None}, field="policy", reason="required"),
    Case("policy-empty", {"policy": {}}, field="policy", reason="required"),
    Case("policy-a-list", {"policy": [BODY]}, field="policy", reason="required"),
    Case("policy-a-string", {"policy": "allow all"}, field="policy", reason="required"),
    Case("kind-is-a-list", {"policy": full(kind=["a"])}, field="kind", reason="got a list"),
    Case("kind-unknown", {"policy": full(kind="NetworkPolicy")}, field="kind", reason="one of"),
    Case("api-version-wrong", {"policy": full(apiVersion="v1")}, field="apiVersion", reason="must"),
    Case(
        "api-version-a-mapping",
        {"policy": full(apiVersion={"a": 1})},
        field="apiVersion",
        reason="got dict",
    ),
    Case("metadata-a-list", {"policy": full(metadata=[1])}, field="metadata", reason="mapping"),
    Case(
        "metadata-name-contradicts",
        {"policy": full(metadata={"name": "other"})},
        field="metadata.name",
        reason="contradicts",
    ),
    Case(
        "metadata-unknown-field",
        {"policy": full(metadata={"ownerReferences": []})},
        field="metadata.ownerReferences",
        reason="unknown field",
    ),
    Case(
        "clusterwide-with-namespace",
        {"policy": full(kind="CiliumClusterwideNetworkPolicy")},
        field="namespace",
        reason="has no namespace",
    ),
    Case(
        "namespaced-without-namespace",
        {"namespace": None, "policy": full()},
        field="namespace",
        reason="required",
    ),
    # -- labels and annotations, as apimachinery validates them -------------------------------
    Case(
        "label-key-forges-a-document",
        {"policy": full(metadata={"labels": {"a\n---\nb": "x"}})},
        field="metadata.labels",
        reason=QUALIFIED,
    ),
    Case(
        "label-key-two-slashes",
        {"policy": full(metadata={"labels": {"a/b/c": "x"}})},
        field="metadata.labels",
        reason=QUALIFIED,
    ),
    Case(
        "label-key-bad-prefix",
        {"policy": full(metadata={"labels": {"Ex_ample.com/a": "x"}})},
        field="metadata.labels",
        reason="prefix",
    ),
    Case(
        "label-value-64-chars",
        {"policy": full(metadata={"labels": {"team": "v" * 64}})},
        field="metadata.labels",
        reason="at most 63",
    ),
    Case(
        "label-value-with-space",
        {"policy": full(metadata={"labels": {"team": "a b"}})},
        field="metadata.labels",
        reason="at most 63",
    ),
    Case(
        "label-value-a-number",
        {"policy": full(metadata={"labels": {"team": 7}})},
        field="metadata.labels.team",
        reason="valid string",
    ),
    Case(
        "annotation-key-with-space",
        {"policy": full(metadata={"annotations": {"a key": "x"}})},
        field="metadata.annotations",
        reason=QUALIFIED,
    ),
    Case(
        "annotations-over-256kib",
        {"policy": full(metadata={"annotations": {"note": "x" * (256 * 1024)}})},
        field="metadata.annotations",
        reason="Kubernetes allows 262,144",
    ),
    Case(
        "annotation-value-a-list",
        {"policy": full(metadata={"annotations": {"note": ["x"]}})},
        field="metadata.annotations.note",
        reason="valid string",
    ),
    # -- the spec, exactly as the CRD types it -------------------------------------------------
    Case(
        "typo-toPort",
        {"policy": body(ingress=[{"toPort": [{"ports": [{"port": "80"}]}]}])},
        field="spec.ingress[0].toPort",
        reason="unknown field",
    ),
    Case(
        "port-a-number",
        {"policy": ingress_port(8080)},
        field="spec.ingress[0].toPorts[0].ports[0].port",
        reason="must be a string",
    ),
    Case(
        # YAML 1.1 reads an unquoted 0123 as 83, YAML 1.2 as 123: only quoting says which.
        "port-octal-lookalike",
        {"policy": ingress_port(0o123)},
        field="spec.ingress[0].toPorts[0].ports[0].port",
        reason="must be a string",
    ),
    Case(
        "port-out-of-range",
        {"policy": ingress_port("70000")},
        field="spec.ingress[0].toPorts[0].ports[0].port",
        reason="port number (0-65535)",
    ),
    Case(
        "port-negative",
        {"policy": ingress_port("-1")},
        field="spec.ingress[0].toPorts[0].ports[0].port",
        reason="port number",
    ),
    Case(
        "end-port-a-string",
        {"policy": ingress_port("80", endPort="90")},
        field="spec.ingress[0].toPorts[0].ports[0].endPort",
        reason="valid integer",
    ),
    Case(
        "protocol-lowercase",
        {"policy": ingress_port("80", protocol="tcp")},
        field="spec.ingress[0].toPorts[0].ports[0].protocol",
        reason="Input should be",
    ),
    Case(
        "default-deny-yes",
        {"policy": body(enableDefaultDeny={"ingress": "yes"})},
        field="spec.enableDefaultDeny.ingress",
        reason="valid boolean",
    ),
    Case(
        "selector-a-string",
        {"policy": body(endpointSelector="app=api")},
        field="spec.endpointSelector",
        reason="dictionary",
    ),
    Case(
        "both-selectors",
        {"policy": body(nodeSelector={})},
        field="spec",
        reason="exactly one of endpointSelector, nodeSelector",
    ),
    Case(
        "no-direction",
        {"policy": body(ingress=None)},
        field="spec",
        reason="at least one of ingress",
    ),
    Case(
        "expression-in-without-values",
        {"policy": body(endpointSelector={"matchExpressions": [{"key": "app", "operator": "In"}]})},
        field="spec.endpointSelector.matchExpressions[0]",
        reason="non-empty values",
    ),
    Case(
        "cidr-prefix-33",
        {"policy": body(ingress=[{"fromCIDR": ["10.0.0.0/33"]}])},
        field="spec.ingress[0].fromCIDR[0]",
        reason="not a CIDR",
    ),
    Case(
        "entity-unknown",
        {"policy": body(ingress=[{"fromEntities": ["internet"]}])},
        field="spec.ingress[0].fromEntities[0]",
        reason="Input should be",
    ),
    Case(
        "fqdn-with-space",
        {"policy": body(ingress=None, egress=[{"toFQDNs": [{"matchName": "a b.com"}]}])},
        field="spec.egress[0].toFQDNs[0].matchName",
        reason="not a DNS name",
    ),
    Case(
        "log-value-too-long",
        {"policy": body(log={"value": "v" * 33})},
        field="spec.log.value",
        reason="at most 32",
    ),
    Case(
        "icmp-type-256",
        {"policy": body(ingress=[{"icmps": [{"fields": [{"type": 256}]}]}])},
        field="spec.ingress[0].icmps[0].fields[0].type",
        reason="0-255",
    ),
    Case(
        "icmp-type-unknown-name",
        {"policy": body(ingress=[{"icmps": [{"fields": [{"type": "Echoo"}]}]}])},
        field="spec.ingress[0].icmps[0].fields[0].type",
        reason="ICMP type",
    ),
    Case(
        "two-l7-kinds",
        {
            "policy": body(
                ingress=[
                    {
                        "toPorts": [
                            {
                                "ports": [{"port": "80"}],
                                "rules": {"http": [{}], "dns": [{"matchName": "a.com"}]},
                            }
                        ]
                    }
                ]
            )
        },
        field="spec.ingress[0].toPorts[0].rules",
        reason="exactly one of",
    ),
    Case(
        "description-a-mapping",
        {"policy": body(description={"text": "x"})},
        field="spec.description",
        reason="valid string",
    ),
    Case(
        "deeply-nested-description",
        {"policy": body(description=[[[[[[[[[[["deep"]]]]]]]]]]])},
        field="spec.description",
        reason="valid string",
    ),
    # -- over the size the API server stores (1.5 MiB): would break the whole Kustomization --
    Case(
        "rendered-file-over-1.5-MiB",
        {"policy": body(description="d" * (2 * 1024 * 1024))},
        field="policy",
        reason="over the limit of 1,572,864",
    ),
]

# Two entries that collide: each is rejected, neither is written.
COLLISIONS: list[dict[str, Any]] = [
    {"id": "h-same-id", "namespace": "hostile", "name": "same-a", "policy": BODY},
    {"id": "h-same-id", "namespace": "hostile", "name": "same-b", "policy": BODY},
    {"id": "h-same-file-1", "namespace": "hostile", "name": "same-file", "policy": BODY},
    {"id": "h-same-file-2", "namespace": "hostile", "name": "same-file", "policy": BODY},
]

# The valid policies beside them, which must be committed.
VALID: list[dict[str, Any]] = [
    {"id": "ok-api", "namespace": "shop", "name": "api", "region": REGION, "policy": BODY},
    {"id": "ok-db", "namespace": "shop", "name": "db", "policy": BODY},
    {
        "id": "ok-host",
        "name": "host-firewall",
        "policy": {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumClusterwideNetworkPolicy",
            "spec": {"nodeSelector": {}, "ingress": [{"fromEntities": ["cluster"]}]},
        },
    },
    # Accepted as it is: text the renderer must quote so it reads back as the same text.
    {
        "id": "ok-odd-text",
        "namespace": "shop",
        "name": "odd-text",
        "policy": body(description="yes\n---\nkind: Secret # \x1b[31m\u202e\u2028 'q' \"dq\""),
    },
]
