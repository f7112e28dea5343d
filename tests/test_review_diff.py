"""The connectivity diff: policy changes, flow changes and risks, on examples and properties."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import InvalidInputError
from reconciler.review import ReviewInputError, compare, render
from reconciler.review.flows import flows_of


def example_bytes(relative: str) -> bytes:
    path = EXAMPLES / relative
    return path.read_bytes()


def dump(*docs: dict[str, Any]) -> bytes:
    return yaml.safe_dump_all(docs, sort_keys=False).encode()


def cnp(name: str, spec: dict[str, Any], namespace: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


WEB = {"matchLabels": {"app": "web"}}
TCP80 = [{"ports": [{"port": "80", "protocol": "TCP"}]}]


def flow_lines(review: Any) -> list[tuple[str, str, str, str]]:
    return [(c.change, c.flow.peer, c.flow.port, c.flow.rule) for c in review.flows]


def risk_codes(review: Any) -> list[tuple[str, str, str]]:
    return [(r.code, r.policy.display, r.rule) for r in review.risks]


# -- on the Cilium examples --------------------------------------------------------------------


def test_port_change_in_example_is_one_removed_and_one_added_flow() -> None:
    """policies/l7/http/simple/l7.yaml with port 80 -> 8080: the field line and two flows."""
    before = example_bytes("policies/l7/http/simple/l7.yaml")
    after = before.replace(b'port: "80"', b'port: "8080"')
    review = compare({"l7.yaml": before}, {"l7.yaml": after})
    [policy] = review.policies
    assert (policy.change, policy.policy.display) == ("updated", "CNP rule1")
    assert [str(f) for f in policy.fields] == [
        'spec.ingress[0].toPorts[0].ports[0].port: "80" -> "8080"'
    ]
    assert flow_lines(review) == [
        ("removed", "same namespace: env=prod", "80", "spec.ingress[0]"),
        ("added", "same namespace: env=prod", "8080", "spec.ingress[0]"),
    ]
    assert all(c.flow.l7 == ("HTTP GET /public",) for c in review.flows)
    assert review.risks == ()


def test_removing_ingress_deny_from_example_is_a_risk() -> None:
    """from_world_deny.yaml without its ingressDeny: the deny flow goes, flagged deny-removed."""
    before = example_bytes("policies/l3/entities/from_world_deny.yaml")
    doc = yaml.safe_load(before)
    del doc["spec"]["ingressDeny"]
    review = compare({"p.yaml": before}, {"p.yaml": dump(doc)})
    assert [(c.change, c.flow.verdict, c.flow.peer) for c in review.flows] == [
        ("removed", "deny", "world")
    ]
    assert risk_codes(review) == [("deny-removed", "CCNP external-lockdown", "spec.ingressDeny[0]")]
    assert "is no longer denied" in review.risks[0].message


def test_adding_world_entity_to_example_is_a_risk() -> None:
    """An ingress item with fromEntities: [world] adds a flow and the ingress-from-world flag."""
    before = example_bytes("policies/l7/http/simple/l7.yaml")
    doc = yaml.safe_load(before)
    doc["spec"]["ingress"].append({"fromEntities": ["world"]})
    review = compare({"l7.yaml": before}, {"l7.yaml": dump(doc)})
    assert flow_lines(review) == [("added", "world", "*", "spec.ingress[1]")]
    assert risk_codes(review) == [("ingress-from-world", "CNP rule1", "spec.ingress[1]")]


def test_removing_http_rules_from_example_is_l7_removed() -> None:
    """Dropping rules.http leaves the L4 flow: changed, and flagged l7-removed."""
    before = example_bytes("policies/l7/http/simple/l7.yaml")
    doc = yaml.safe_load(before)
    del doc["spec"]["ingress"][0]["toPorts"][0]["rules"]
    review = compare({"l7.yaml": before}, {"l7.yaml": dump(doc)})
    [change] = review.flows
    assert (change.change, change.l7_before, change.l7_after) == (
        "changed",
        ("HTTP GET /public",),
        (),
    )
    assert risk_codes(review) == [("l7-removed", "CNP rule1", "spec.ingress[0]")]


# -- risks -------------------------------------------------------------------------------------


def test_deleting_namespace_default_deny_is_flagged() -> None:
    """A namespace loses its only ``{}`` + ``ingress: [{}]`` policy."""
    deny = cnp("default-deny", {"endpointSelector": {}, "ingress": [{}]})
    review = compare({"d.yaml": dump(deny)}, {})
    assert review.flows == ()
    assert risk_codes(review) == [("default-deny-lost", "CNP shop/default-deny", "spec")]
    assert review.risks[0].message.startswith("shop loses its default deny for ingress")


def test_enable_default_deny_false_turns_a_default_deny_off() -> None:
    """The same policy with enableDefaultDeny.ingress false no longer holds the namespace."""
    deny = cnp("default-deny", {"endpointSelector": {}, "ingress": [{}]})
    off = cnp(
        "default-deny",
        {"endpointSelector": {}, "ingress": [{}], "enableDefaultDeny": {"ingress": False}},
    )
    review = compare({"d.yaml": dump(deny)}, {"d.yaml": dump(off)})
    assert risk_codes(review) == [("default-deny-lost", "CNP shop/default-deny", "spec")]
    assert review.risks[0].message.endswith(
        "accept all ingress traffic (CNP shop/default-deny spec sets enableDefaultDeny.ingress: "
        "false)"
    )


def test_default_deny_replaced_by_one_with_enable_default_deny_false() -> None:
    """A broad allow policy with enableDefaultDeny false does not take over a deleted default deny.

    Both select every pod of shop and have ingress rules; the new one opts out of default deny,
    so the namespace is open. The flag names the deleted policy and the one that opts out.
    """
    deny = cnp("default-deny", {"endpointSelector": {}, "ingress": [{}]})
    broad = cnp(
        "from-lb",
        {
            "endpointSelector": {},
            "enableDefaultDeny": {"ingress": False},
            "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "lb"}}]}],
        },
    )
    review = compare({"a.yaml": dump(deny)}, {"a.yaml": dump(broad)})
    assert risk_codes(review) == [("default-deny-lost", "CNP shop/default-deny", "spec")]
    assert (
        "  ! default-deny-lost: CNP shop/default-deny spec: shop loses its default deny for "
        "ingress: pods no other policy selects now accept all ingress traffic "
        "(CNP shop/from-lb spec sets enableDefaultDeny.ingress: false)"
    ) in render(review, "text").splitlines()
    # The same broad policy without the opt-out keeps shop in default deny.
    del broad["spec"]["enableDefaultDeny"]
    assert compare({"a.yaml": dump(deny)}, {"a.yaml": dump(broad)}).risks == ()


def test_default_deny_kept_by_another_policy_is_not_flagged() -> None:
    """Another empty-selector policy with an ingress section keeps the namespace in default deny."""
    deny = cnp("default-deny", {"endpointSelector": {}, "ingress": [{}]})
    other = cnp(
        "from-lb",
        {"endpointSelector": {}, "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "lb"}}]}]},
    )
    review = compare({"a.yaml": dump(deny, other)}, {"a.yaml": dump(other)})
    assert review.risks == ()
    [policy] = review.policies
    assert policy.change == "deleted"


def test_clusterwide_enable_default_deny_covers_every_namespace() -> None:
    """An empty-selector CCNP with enableDefaultDeny keeps every namespace covered."""
    deny = cnp("default-deny", {"endpointSelector": {}, "egress": [{}]})
    ccnp = {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": "base"},
        "spec": {
            "endpointSelector": {},
            "enableDefaultDeny": {"egress": True},
            "ingress": [{"fromEntities": ["cluster"]}],
        },
    }
    review = compare({"a.yaml": dump(deny, ccnp)}, {"a.yaml": dump(ccnp)})
    assert review.risks == ()
    review = compare({"a.yaml": dump(ccnp)}, {})
    assert ("default-deny-lost", "CCNP base", "spec") in risk_codes(review)


def test_selector_widened_to_every_pod() -> None:
    """Subject and peer selectors that go from labels to ``{}`` are flagged at their rule."""
    before = cnp(
        "web",
        {"endpointSelector": WEB, "ingress": [{"fromEndpoints": [WEB], "toPorts": TCP80}]},
    )
    after = cnp(
        "web", {"endpointSelector": {}, "ingress": [{"fromEndpoints": [{}], "toPorts": TCP80}]}
    )
    review = compare({"w.yaml": dump(before)}, {"w.yaml": dump(after)})
    assert risk_codes(review) == [
        ("selector-widened", "CNP shop/web", "spec"),
        ("selector-widened", "CNP shop/web", "spec.ingress[0]"),
    ]
    assert review.risks[0].message == "spec.endpointSelector selected app=web, now every pod"


def test_world_cidr_and_any_peer_are_world() -> None:
    """0.0.0.0/0 and a peerless toPorts both count as ingress from the world, once per rule."""
    after = cnp(
        "web",
        {
            "endpointSelector": WEB,
            "ingress": [
                {
                    "fromCIDRSet": [{"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}],
                    "toPorts": TCP80,
                },
                {"toPorts": [{"ports": [{"port": "80"}, {"port": "443"}]}]},
            ],
        },
    )
    review = compare({}, {"w.yaml": dump(after)})
    assert risk_codes(review) == [
        ("ingress-from-world", "CNP shop/web", "spec.ingress[0]"),
        ("ingress-from-world", "CNP shop/web", "spec.ingress[1]"),
    ]
    assert review.risks[1].message.endswith("(and 1 more like it)")


def test_reserved_world_label_is_ingress_from_world() -> None:
    """fromEndpoints with only reserved:world selects the world identity: flagged as such."""
    after = cnp(
        "web",
        {
            "endpointSelector": WEB,
            "ingress": [
                {"fromEndpoints": [{"matchLabels": {"reserved:world": ""}}], "toPorts": TCP80},
                {
                    "fromEndpoints": [
                        {"matchExpressions": [{"key": "reserved:world-ipv6", "operator": "Exists"}]}
                    ],
                    "toPorts": TCP80,
                },
            ],
            "egress": [{"toEndpoints": [{"matchLabels": {"reserved:kube-apiserver": ""}}]}],
        },
    )
    review = compare({}, {"w.yaml": dump(after)})
    assert [(c.flow.direction, c.flow.peer_kind, c.flow.peer) for c in review.flows] == [
        ("egress", "entity", "kube-apiserver"),
        ("ingress", "entity", "world"),
        ("ingress", "entity", "world-ipv6"),
    ]
    assert risk_codes(review) == [
        ("ingress-from-world", "CNP shop/web", "spec.ingress[0]"),
        ("ingress-from-world", "CNP shop/web", "spec.ingress[1]"),
    ]
    assert review.risks[0].message == (
        "new ingress to app=web from entity world on TCP/80: open to every address, outside "
        "included"
    )


def test_reserved_label_and_entity_are_one_peer() -> None:
    """Rewriting fromEntities [host] as the label reserved:host changes no connectivity."""
    entity = cnp("web", {"endpointSelector": WEB, "ingress": [{"fromEntities": ["host"]}]})
    label = cnp(
        "web",
        {
            "endpointSelector": WEB,
            "ingress": [{"fromEndpoints": [{"matchLabels": {"reserved:host": ""}}]}],
        },
    )
    review = compare({"w.yaml": dump(entity)}, {"w.yaml": dump(label)})
    assert [p.change for p in review.policies] == ["updated"]
    assert (review.flows, review.risks) == ((), ())


def test_reserved_label_beside_other_labels_is_not_the_entity() -> None:
    """reserved:world with a pod label is an ordinary selector (which world never matches)."""
    after = cnp(
        "web",
        {
            "endpointSelector": WEB,
            "ingress": [
                {"fromEndpoints": [{"matchLabels": {"reserved:world": "", "app": "lb"}}]},
                {"fromEndpoints": [{"matchLabels": {"k8s:reserved:world": ""}}]},
            ],
        },
    )
    review = compare({}, {"w.yaml": dump(after)})
    assert [(c.flow.peer_kind, c.flow.peer) for c in review.flows] == [
        ("endpoints", "any namespace: app=lb,reserved:world="),
        ("endpoints", "any namespace: k8s:reserved:world="),
    ]
    assert review.risks == ()


MUTUAL_AUTH = {
    "fromEndpoints": [{"matchLabels": {"app": "lb"}}],
    "authentication": {"mode": "required"},
    "toPorts": TCP80,
}


@pytest.mark.parametrize(
    "authentication", [None, {"mode": "disabled"}], ids=["removed", "disabled"]
)
def test_mutual_auth_removed_is_flagged(authentication: dict[str, str] | None) -> None:
    """Dropping authentication.mode required (or setting it to disabled) is auth-removed."""
    before = cnp("web", {"endpointSelector": WEB, "ingress": [MUTUAL_AUTH]})
    item = {k: v for k, v in MUTUAL_AUTH.items() if k != "authentication"}
    if authentication is not None:
        item["authentication"] = authentication
    after = cnp("web", {"endpointSelector": WEB, "ingress": [item]})
    review = compare({"w.yaml": dump(before)}, {"w.yaml": dump(after)})
    [change] = review.flows
    assert (change.change, change.l7_before, change.l7_after) == (
        "changed",
        ("auth required",),
        (),
    )
    assert risk_codes(review) == [("auth-removed", "CNP shop/web", "spec.ingress[0]")]
    assert review.risks[0].message == (
        "ingress to app=web from endpoints shop: app=lb on TCP/80 no longer requires mutual "
        "authentication (was auth required)"
    )


def test_mutual_auth_of_one_grant_holds_until_it_goes() -> None:
    """Cilium keeps an explicit auth mode when it merges grants: a plain grant does not lift it.

    So two policies granting one flow, one requiring auth, require it; deleting that one leaves
    the flow open without auth, flagged at the grant that remains.
    """
    plain = {k: v for k, v in MUTUAL_AUTH.items() if k != "authentication"}
    files = {
        "a.yaml": dump(cnp("a", {"endpointSelector": WEB, "ingress": [MUTUAL_AUTH]})),
        "b.yaml": dump(cnp("b", {"endpointSelector": WEB, "ingress": [plain]})),
    }
    added = compare({}, files)
    assert [c.l7_after for c in added.flows] == [("auth required",)]
    review = compare(files, {"b.yaml": files["b.yaml"]})
    [change] = review.flows
    assert (change.change, change.l7_before, change.l7_after) == ("changed", ("auth required",), ())
    assert risk_codes(review) == [("auth-removed", "CNP shop/b", "spec.ingress[0]")]


def test_flow_removed_with_its_auth_is_not_auth_removed() -> None:
    """Deleting an authenticated rule removes the flow: nothing left to authenticate, no flag."""
    before = cnp("web", {"endpointSelector": WEB, "ingress": [MUTUAL_AUTH]})
    review = compare({"w.yaml": dump(before)}, {})
    assert [c.change for c in review.flows] == ["removed"]
    assert review.risks == ()


def test_flow_kept_by_an_unchanged_policy_is_not_removed() -> None:
    """Connectivity is per flow: deleting one of two grants of it changes nothing."""
    rule = {"endpointSelector": WEB, "ingress": [{"fromEntities": ["cluster"], "toPorts": TCP80}]}
    files = {"a.yaml": dump(cnp("a", rule)), "b.yaml": dump(cnp("b", rule))}
    review = compare(files, {"a.yaml": files["a.yaml"]})
    assert [p.change for p in review.policies] == ["deleted"]
    assert review.flows == ()


def test_unfiltered_grant_elsewhere_lifts_l7() -> None:
    """A second policy granting the port without L7 makes the flow unfiltered: changed."""
    filtered = cnp(
        "a",
        {
            "endpointSelector": WEB,
            "ingress": [
                {"toPorts": [{**TCP80[0], "rules": {"http": [{"method": "GET", "path": "/"}]}}]}
            ],
        },
    )
    plain = cnp("b", {"endpointSelector": WEB, "ingress": [{"toPorts": TCP80}]})
    review = compare({"a.yaml": dump(filtered)}, {"a.yaml": dump(filtered), "b.yaml": dump(plain)})
    [change] = review.flows
    assert (change.change, change.l7_before, change.l7_after) == ("changed", ("HTTP GET /",), ())
    assert sorted(f.policy.name for f in change.after) == ["a", "b"]
    # The flag names the rule that lets every request through, not the one that filtered.
    assert risk_codes(review) == [("l7-removed", "CNP shop/b", "spec.ingress[0]")]


def test_cilium_gitops_bookkeeping_annotations_are_not_policy_changes() -> None:
    """A re-render at a new control-plane version changes digest and version, not traffic."""

    def rendered(version: str, port: str) -> bytes:
        doc = cnp("cart", {"endpointSelector": WEB, "ingress": [{"toPorts": TCP80}]})
        doc["spec"]["ingress"][0]["toPorts"][0]["ports"][0]["port"] = port
        doc["metadata"]["annotations"] = {
            "cilium-gitops.io/digest": f"sha256:{version * 8}",
            "cilium-gitops.io/policy-id": "cp-cart",
            "cilium-gitops.io/version": version,
        }
        return dump(doc)

    assert compare({"a.yaml": rendered("1", "80")}, {"a.yaml": rendered("2", "80")}).empty
    [policy] = compare({"a.yaml": rendered("1", "80")}, {"a.yaml": rendered("2", "81")}).policies
    assert [c.path for c in policy.fields] == ["spec.ingress[0].toPorts[0].ports[0].port"]
    # A policy that is new shows the id it was rendered for, but not the bookkeeping.
    [created] = compare({}, {"a.yaml": rendered("1", "80")}).policies
    paths = [c.path for c in created.fields]
    assert 'metadata.annotations["cilium-gitops.io/policy-id"]' in paths
    assert not [p for p in paths if "digest" in p or "gitops.io/version" in p]


def test_requires_is_noted() -> None:
    """fromRequires in a changed policy gives a note, since no flow shows it."""
    doc = cnp("req", {"endpointSelector": WEB, "ingress": [{"fromRequires": [WEB]}]})
    review = compare({}, {"r.yaml": dump(doc)})
    note = (
        "CNP shop/req spec.ingress[0]: fromRequires app=web narrows every ingress peer of "
        "app=web; the flows do not show it"
    )
    assert review.notes == (note,)


# -- inputs ------------------------------------------------------------------------------------


def test_identity_not_path_and_other_documents_skipped() -> None:
    """A policy moved to another file is no change; kustomization.yaml and README are skipped."""
    doc = dump(cnp("web", {"endpointSelector": WEB, "ingress": [{}]}))
    kustomization = b"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
    review = compare(
        {"a/web.yaml": doc, "kustomization.yaml": kustomization},
        {"b/web.yml": doc, "README.md": b"# not: [yaml", "kustomization.yaml": b"resources: []"},
    )
    assert review.empty
    assert render(review, "text") == "No policy changes."


def test_kind_list_is_read() -> None:
    """Policies inside a v1 List count, as validate reads them."""
    listed = {"apiVersion": "v1", "kind": "List", "items": [cnp("web", {"endpointSelector": WEB})]}
    review = compare({}, {"l.yaml": dump(listed)})
    assert [p.policy.display for p in review.policies] == ["CNP shop/web"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"spec: [unclosed\n", "invalid YAML"),
        (b"\xff\xfe", "not UTF-8"),
        (b"a: 1\na: 2\n", "invalid YAML"),
        (
            dump({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {}}),
            "without metadata.name",
        ),
    ],
)
def test_unreadable_file_raises_naming_it(content: bytes, reason: str) -> None:
    """Bad YAML, bad UTF-8, duplicate keys and nameless policies raise ReviewInputError."""
    with pytest.raises(ReviewInputError) as caught:
        compare({}, {"shop/bad.yaml": content})
    assert caught.value.path == "shop/bad.yaml"
    assert reason in caught.value.reason
    assert str(caught.value).startswith("shop/bad.yaml")
    assert isinstance(caught.value, InvalidInputError)


def test_duplicate_policy_on_one_side_raises() -> None:
    """The same (kind, namespace, name) in two files is ambiguous: named, both files."""
    doc = dump(cnp("web", {"endpointSelector": WEB}))
    with pytest.raises(ReviewInputError, match=r"b\.yaml: CNP shop/web is also defined in a\.yaml"):
        compare({"a.yaml": doc, "b.yaml": doc}, {})


# -- properties --------------------------------------------------------------------------------

labels = st.dictionaries(
    st.sampled_from(["app", "tier"]), st.sampled_from(["web", "db"]), max_size=2
)
selectors = labels.map(lambda m: {"matchLabels": m} if m else {})
ports = st.fixed_dictionaries(
    {"port": st.sampled_from(["53", "80", "443"])},
    optional={"protocol": st.sampled_from(["TCP", "UDP"])},
)
http = st.lists(
    st.fixed_dictionaries({"method": st.sampled_from(["GET", "POST"]), "path": st.just("/api")}),
    min_size=1,
    max_size=2,
)
port_rules = st.fixed_dictionaries(
    {"ports": st.lists(ports, min_size=1, max_size=2)},
    optional={"rules": http.map(lambda h: {"http": h})},
)
ingress_items = st.fixed_dictionaries(
    {},
    optional={
        "fromEndpoints": st.lists(selectors, max_size=2),
        "fromEntities": st.lists(st.sampled_from(["world", "cluster"]), max_size=1),
        "fromCIDR": st.lists(st.sampled_from(["0.0.0.0/0", "10.0.0.0/8"]), max_size=1),
        "toPorts": st.lists(port_rules, min_size=1, max_size=2),
    },
)
egress_items = st.fixed_dictionaries(
    {},
    optional={
        "toEndpoints": st.lists(selectors, max_size=2),
        "toFQDNs": st.lists(st.just({"matchName": "api.example.com"}), max_size=1),
        "toPorts": st.lists(port_rules, min_size=1, max_size=2),
    },
)
deny_items = st.fixed_dictionaries(
    {"fromEntities": st.lists(st.sampled_from(["world", "host"]), min_size=1, max_size=2)}
)
specs = st.fixed_dictionaries(
    {"endpointSelector": selectors},
    optional={
        "ingress": st.lists(ingress_items, max_size=2),
        "ingressDeny": st.lists(deny_items, max_size=1),
        "egress": st.lists(egress_items, max_size=2),
        "enableDefaultDeny": st.fixed_dictionaries({}, optional={"ingress": st.booleans()}),
    },
)
names = st.sampled_from(["a", "b", "c"])
keys = st.tuples(
    st.just("CiliumNetworkPolicy"), st.sampled_from(["shop", "bank"]), names
) | st.tuples(st.just("CiliumClusterwideNetworkPolicy"), st.just(""), names)
policy_sets = st.dictionaries(keys, specs, max_size=4)
PolicySet = dict[tuple[str, str, str], dict[str, Any]]


def with_l7(spec: dict[str, Any], rules: dict[str, Any] | None) -> dict[str, Any]:
    """The spec with every ingress port rule's L7 rules replaced (or dropped when None)."""
    items = []
    for item in spec.get("ingress", []):
        port_rules = [
            {"ports": r["ports"]} | ({"rules": rules} if rules else {})
            for r in item.get("toPorts", [])
        ]
        items.append(item | ({"toPorts": port_rules} if port_rules else {}))
    return spec | ({"ingress": items} if "ingress" in spec else {})


@st.composite
def related_sets(draw: st.DrawFn) -> tuple[PolicySet, PolicySet]:
    """Two policy sets where the second is an edit of the first, so flows change L7 too."""
    first = draw(policy_sets)
    second: PolicySet = {}
    for key, spec in first.items():
        edit = draw(st.sampled_from(["keep", "drop", "replace", "strip-l7", "other-l7"]))
        if edit == "keep":
            second[key] = spec
        elif edit == "replace":
            second[key] = draw(specs)
        elif edit == "strip-l7":
            second[key] = with_l7(spec, None)
        elif edit == "other-l7":
            second[key] = with_l7(spec, {"http": [{"method": "PUT", "path": "/x"}]})
    for key, spec in draw(policy_sets).items():
        second.setdefault(key, spec)
    return first, second


def files(policies: PolicySet) -> dict[str, bytes]:
    """One JSON file per policy (JSON is YAML); a clusterwide one drops the namespace."""
    out = {}
    for (kind, namespace, name), spec in policies.items():
        metadata = {"name": name} | (
            {"namespace": namespace} if kind == "CiliumNetworkPolicy" else {}
        )
        doc = {"apiVersion": "cilium.io/v2", "kind": kind, "metadata": metadata, "spec": spec}
        out[f"{namespace or 'cluster'}/{kind}-{name}.json"] = json.dumps(doc).encode()
    return out


@settings(max_examples=150, deadline=None)
@given(policy_sets)
def test_compare_with_itself_is_empty(policies: PolicySet) -> None:
    """compare(x, x) has no policy change, flow change, risk or note."""
    review = compare(files(policies), files(policies))
    assert (review.policies, review.flows, review.risks, review.notes) == ((), (), (), ())


@settings(max_examples=200, deadline=None)
@given(related_sets())
def test_compare_is_antisymmetric(sides: tuple[PolicySet, PolicySet]) -> None:
    """compare(a, b) adds what compare(b, a) removes, and L7 changes swap sides."""
    first, second = sides
    forward, backward = compare(files(first), files(second)), compare(files(second), files(first))

    def of(review: Any, change: str) -> set[tuple[Any, ...]]:
        return {(c.before, c.after) for c in review.flows if c.change == change}

    assert of(forward, "added") == {(a, b) for b, a in of(backward, "removed")}
    assert of(forward, "changed") == {(a, b) for b, a in of(backward, "changed")}
    created = {p.policy for p in forward.policies if p.change == "created"}
    assert created == {p.policy for p in backward.policies if p.change == "deleted"}


@settings(max_examples=150, deadline=None)
@given(related_sets())
def test_added_flows_are_the_new_keys(sides: tuple[PolicySet, PolicySet]) -> None:
    """Though only changed policies are expanded, added flows are the keys b has and a lacks."""
    old, new = files(sides[0]), files(sides[1])

    def keys_of(side: dict[str, bytes]) -> set[tuple[str, ...]]:
        return {f.key for content in side.values() for f in flows_of(json.loads(content))}

    review = compare(old, new)
    added = {c.flow.key for c in review.flows if c.change == "added"}
    removed = {c.flow.key for c in review.flows if c.change == "removed"}
    assert added == keys_of(new) - keys_of(old)
    assert removed == keys_of(old) - keys_of(new)


@settings(max_examples=50, deadline=None)
@given(related_sets())
def test_output_does_not_depend_on_file_order(sides: tuple[PolicySet, PolicySet]) -> None:
    """Every format renders the same whatever order the files come in."""
    old, new = files(sides[0]), files(sides[1])
    shuffled_old, shuffled_new = dict(reversed(old.items())), dict(reversed(new.items()))
    for fmt in ("text", "json", "markdown"):
        assert render(compare(old, new), fmt) == render(compare(shuffled_old, shuffled_new), fmt)
