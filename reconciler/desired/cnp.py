"""Typed model of a CiliumNetworkPolicy rule (``spec`` / ``specs[]``): the body of a desired policy.

Sits inside ``policy``: ``DesiredPolicy.spec`` is a ``Rule``; its scalars, selectors and peers
are in ``cnp_fields``. It covers the union of the ``cilium.io/v2`` CRD schemas of Cilium 1.19
and main (1.20-dev), so a policy that either release accepts validates here, and anything else
is rejected with the JSON path of the offending field (``error_path``). Rejecting unknown keys
is the point: a typo such as ``toPort`` would otherwise vanish from the rendered file and
silently widen or narrow the policy.

Field order in every class is the order of the Go structs in ``cilium/pkg/policy/api`` (and of
the Cilium docs), with ``by_alias`` dumps giving the camelCase names, so rendering a model gives
the key order reviewers know. Maps with free keys (labels) are sorted on input so their order in
the output does not depend on how the control plane happened to send them.

Checks go as far as the CRD's OpenAPI schema does (enums, patterns, one-of groups, ranges), plus
the label-selector rules Kubernetes applies; deeper semantic checks are Cilium's job at admission.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, model_validator

from reconciler.desired.cnp_fields import (
    Cidr,
    CIDRRule,
    CiliumModel,
    EndpointSelector,
    Entity,
    FQDNSelector,
    Groups,
    IcmpType,
    Port,
    Protocol,
    ServerName,
    Service,
    StringMap,
    error_path,
    exactly_one,
)

__all__ = ["CiliumModel", "EndpointSelector", "Rule", "error_path"]


# -- ports and L7 ------------------------------------------------------------------------------


class PortProtocol(CiliumModel):
    """A port (or range) and protocol."""

    port: Port | None = None
    end_port: Annotated[int, Field(ge=0, le=65535, strict=True)] | None = None
    protocol: Protocol | None = None


class Secret(CiliumModel):
    """A Kubernetes Secret reference."""

    namespace: str | None = None
    name: str


class TLSContext(CiliumModel):
    """TLS material for terminating or originating TLS."""

    secret: Secret
    trusted_ca: str | None = Field(default=None, alias="trustedCA")
    certificate: str | None = None
    private_key: str | None = None


class EnvoyConfig(CiliumModel):
    """The CiliumEnvoyConfig a listener lives in."""

    kind: Literal["CiliumEnvoyConfig", "CiliumClusterwideEnvoyConfig"] | None = None
    name: str


class Listener(CiliumModel):
    """Redirect to an Envoy listener."""

    envoy_config: EnvoyConfig
    name: str
    priority: Annotated[int, Field(ge=1, le=100, strict=True)] | None = None


class HeaderMatch(CiliumModel):
    """An HTTP header condition."""

    mismatch: Literal["LOG", "ADD", "DELETE", "REPLACE"] | None = None
    name: str
    secret: Secret | None = None
    value: str | None = None


class PortRuleHTTP(CiliumModel):
    """An HTTP L7 rule."""

    path: str | None = None
    method: str | None = None
    host: str | None = None
    headers: tuple[str, ...] | None = None
    header_matches: tuple[HeaderMatch, ...] | None = None


class PortRuleKafka(CiliumModel):
    """A Kafka L7 rule (Cilium 1.19; removed in main)."""

    role: Literal["produce", "consume"] | None = None
    api_key: str | None = None
    api_version: str | None = None
    client_id: str | None = Field(default=None, alias="clientID")
    topic: Annotated[str, Field(max_length=255)] | None = None


class L7Rules(CiliumModel):
    """The L7 rules of a port rule: one kind per port rule."""

    http: tuple[PortRuleHTTP, ...] | None = None
    kafka: tuple[PortRuleKafka, ...] | None = None
    dns: tuple[FQDNSelector, ...] | None = None
    l7proto: str | None = Field(default=None, alias="l7proto")
    l7: tuple[StringMap, ...] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> L7Rules:
        exactly_one(http=self.http, kafka=self.kafka, dns=self.dns, l7proto=self.l7proto)
        return self


class PortRule(CiliumModel):
    """``toPorts`` entry of an allow rule."""

    ports: tuple[PortProtocol, ...] | None = None
    terminating_tls: TLSContext | None = Field(default=None, alias="terminatingTLS")
    originating_tls: TLSContext | None = Field(default=None, alias="originatingTLS")
    server_names: tuple[ServerName, ...] | None = None
    listener: Listener | None = None
    rules: L7Rules | None = None


class PortDenyRule(CiliumModel):
    """``toPorts`` entry of a deny rule: ports only, deny rules have no L7."""

    ports: tuple[PortProtocol, ...] | None = None


class ICMPField(CiliumModel):
    """One ICMP type, per address family."""

    family: Literal["IPv4", "IPv6"] | None = None
    type: IcmpType


class ICMPRule(CiliumModel):
    """An ``icmps`` entry."""

    fields: tuple[ICMPField, ...] | None = None


class Authentication(CiliumModel):
    """Mutual authentication requirement."""

    mode: Literal["disabled", "required", "test-always-fail"]


# -- directions --------------------------------------------------------------------------------


class IngressPeers(CiliumModel):
    """Where ingress traffic may come from: shared by allow and deny rules (Go's common rule)."""

    from_endpoints: tuple[EndpointSelector, ...] | None = None
    from_requires: tuple[EndpointSelector, ...] | None = None
    from_cidr: tuple[Cidr, ...] | None = Field(default=None, alias="fromCIDR")
    from_cidr_set: tuple[CIDRRule, ...] | None = Field(default=None, alias="fromCIDRSet")
    from_entities: tuple[Entity, ...] | None = None
    from_groups: tuple[Groups, ...] | None = None
    from_nodes: tuple[EndpointSelector, ...] | None = None


class IngressDenyRule(IngressPeers):
    """An ``ingressDeny`` entry."""

    to_ports: tuple[PortDenyRule, ...] | None = None
    icmps: tuple[ICMPRule, ...] | None = None


class IngressRule(IngressPeers):
    """An ``ingress`` entry; ``{}`` allows nothing but turns on default deny."""

    to_ports: tuple[PortRule, ...] | None = None
    icmps: tuple[ICMPRule, ...] | None = None
    authentication: Authentication | None = None


class EgressPeers(CiliumModel):
    """Where egress traffic may go, up to ``toServices``: shared by allow and deny rules.

    ``toGroups`` and ``toNodes`` are declared in each subclass, because the allow rule's
    ``toFQDNs`` comes before them in the documented key order.
    """

    to_endpoints: tuple[EndpointSelector, ...] | None = None
    to_requires: tuple[EndpointSelector, ...] | None = None
    to_cidr: tuple[Cidr, ...] | None = Field(default=None, alias="toCIDR")
    to_cidr_set: tuple[CIDRRule, ...] | None = Field(default=None, alias="toCIDRSet")
    to_entities: tuple[Entity, ...] | None = None
    to_services: tuple[Service, ...] | None = None


class EgressDenyRule(EgressPeers):
    """An ``egressDeny`` entry."""

    to_groups: tuple[Groups, ...] | None = None
    to_nodes: tuple[EndpointSelector, ...] | None = None
    to_ports: tuple[PortDenyRule, ...] | None = None
    icmps: tuple[ICMPRule, ...] | None = None


class EgressRule(EgressPeers):
    """An ``egress`` entry."""

    to_fqdns: tuple[FQDNSelector, ...] | None = Field(default=None, alias="toFQDNs")
    to_groups: tuple[Groups, ...] | None = None
    to_nodes: tuple[EndpointSelector, ...] | None = None
    to_ports: tuple[PortRule, ...] | None = None
    icmps: tuple[ICMPRule, ...] | None = None
    authentication: Authentication | None = None


# -- the rule ----------------------------------------------------------------------------------


class Label(CiliumModel):
    """A ``spec.labels`` entry: Cilium's own label form."""

    key: str
    value: str | None = None
    source: str | None = None


class DefaultDenyConfig(CiliumModel):
    """``enableDefaultDeny``: whether selecting an endpoint puts it in default deny."""

    # Strict: pydantic would take "yes" or 1 as true; the API server takes only a boolean.
    ingress: StrictBool | None = None
    egress: StrictBool | None = None


class LogConfig(CiliumModel):
    """``log``: the value attached to policy verdict logs."""

    value: Annotated[str, Field(max_length=32, pattern=r"^\PC*$")] | None = None


class Rule(CiliumModel):
    """One policy rule: what it selects and what traffic it allows or denies."""

    endpoint_selector: EndpointSelector | None = None
    node_selector: EndpointSelector | None = None
    ingress: tuple[IngressRule, ...] | None = None
    ingress_deny: tuple[IngressDenyRule, ...] | None = None
    egress: tuple[EgressRule, ...] | None = None
    egress_deny: tuple[EgressDenyRule, ...] | None = None
    labels: tuple[Label, ...] | None = None
    enable_default_deny: DefaultDenyConfig | None = None
    description: str | None = None
    log: LogConfig | None = None

    @model_validator(mode="after")
    def _selector_and_direction(self) -> Rule:
        exactly_one(endpointSelector=self.endpoint_selector, nodeSelector=self.node_selector)
        directions = (self.ingress, self.ingress_deny, self.egress, self.egress_deny)
        if all(direction is None for direction in directions):
            raise ValueError("at least one of ingress, ingressDeny, egress, egressDeny is required")
        return self
