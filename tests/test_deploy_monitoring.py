"""The alerts and the dashboard under ``deploy/`` read metrics a running service exports (issue 18).

Every selector in a PrometheusRule expression, a dashboard query or a dashboard variable must
name a sample that ``cilium-gitops run`` serves on ``/metrics``, with labels it carries (or that
Prometheus adds to every target) and, for an exact match on one of its own labels, a value it
takes: a renamed metric, label or state fails here instead of silencing an alert. The runbooks
the alerts link to exist, and the alerts cover what issue 18 asks for.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from conftest import ROOT
from deploy_support import DASHBOARD, MONITORING, RULES, kustomize, needs_kubectl, one
from deploy_support import running_service as serve
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fault_support import Service

RUNBOOKS = ROOT / "docs" / "runbooks.md"
# Labels Prometheus (with a ServiceMonitor) puts on every scraped sample, not the service.
TARGET_LABELS = {"namespace", "pod", "job", "instance", "service", "container", "endpoint"}
# PromQL's functions and aggregations come before "(" (or "by"/"without"); these words never do.
KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}  # fmt: skip
_WORD = re.compile(r"(?<![\w.$:])[A-Za-z_:][\w:]*")
_MATCHER = re.compile(r'\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


@dataclass(frozen=True)
class Selector:
    """One series selector: a metric name and its label matchers."""

    name: str
    matchers: tuple[tuple[str, str, str], ...] = ()


def _closing(text: str, start: int, pair: str) -> int:
    """Index just past the bracket that closes the one at ``start`` (strings skipped)."""
    depth, i = 0, start
    while i < len(text):
        char = text[i]
        if char == '"':
            i = _string_end(text, i)
        elif char == pair[0]:
            depth += 1
        elif char == pair[1]:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    msg = f"unbalanced {pair!r} in {text!r}"
    raise ValueError(msg)


def _string_end(text: str, start: int) -> int:
    i = start + 1
    while text[i] != '"':
        i += 2 if text[i] == "\\" else 1
    return i


def _matchers(body: str) -> tuple[tuple[str, str, str], ...]:
    found, position = [], 0
    while position < len(body.strip()):
        match = _MATCHER.match(body, position)
        assert match is not None, f"cannot read the label matchers {{{body}}}"
        found.append((match[1], match[2], match[3]))
        position = match.end()
    return tuple(found)


def selectors(expr: str) -> list[Selector]:
    """The series selectors of a PromQL expression (enough PromQL for alerts and dashboards)."""
    found: list[Selector] = []
    i = 0
    while i < len(expr):
        char = expr[i]
        if char == '"':
            i = _string_end(expr, i) + 1
        elif char == "[":  # a range or subquery: durations and Grafana's $__rate_interval
            i = _closing(expr, i, "[]")
        elif char == "{":  # a selector without a name: {__name__="..."}
            end = _closing(expr, i, "{}")
            matchers = _matchers(expr[i + 1 : end - 1])
            names = [v for label, op, v in matchers if label == "__name__" and op == "="]
            found.append(Selector(names[0] if names else "", matchers))
            i = end
        elif word := _WORD.match(expr, i):
            selector, i = _word(expr, word[0], word.end())
            if selector is not None:
                found.append(selector)
        else:
            i += 1
    return found


def _word(expr: str, name: str, i: int) -> tuple[Selector | None, int]:
    """What the word ``name`` ending at ``i`` is: a selector, or not; and where to go on."""
    rest = expr[i:].lstrip()
    after = len(expr) - len(rest)
    if name.lower() in KEYWORDS:
        return None, i
    if name in GROUPING:  # followed by a list of label names
        return None, _closing(expr, after, "()") if rest.startswith("(") else i
    if rest.startswith("(") or (name in AGGREGATIONS and rest.startswith(("by", "without"))):
        return None, i  # a function or an aggregation
    if rest.startswith("{"):
        end = _closing(expr, after, "{}")
        return Selector(name, _matchers(expr[after + 1 : end - 1])), end
    return Selector(name), i


def grafana_selectors(query: str) -> list[Selector]:
    """A dashboard variable's query: ``label_values(SELECTOR, LABEL)`` or plain PromQL."""
    match = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query, re.DOTALL)
    return selectors(match[1] if match else query)


# -- what the deployment asks ------------------------------------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["spec"]["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def _panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries() -> dict[str, list[Selector]]:
    """Every expression of the deployment, by where it is, with its selectors."""
    found = {f"alert {r['alert']}": selectors(str(r["expr"])) for r in alert_rules()}
    board = dashboard()
    for panel in _panels(board):
        for target in panel.get("targets", []):
            found[f"panel {panel['title']!r} {target['refId']}"] = selectors(target["expr"])
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            found[f"variable {variable['name']}"] = grafana_selectors(text)
    return found


# -- what the service serves -------------------------------------------------------------------

Exported = dict[str, list[dict[str, str]]]


def exported(text: str) -> Exported:
    """Sample name -> the label sets it is served with."""
    samples: Exported = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(dict(sample.labels))
    return samples


def problems(where: str, found: list[Selector], samples: Exported) -> list[str]:
    """What in ``found`` the service does not export, in words."""
    wrong = []
    for selector in found:
        if selector.name not in samples:
            wrong.append(f"{where}: {selector.name or '{...}'} is not exported")
            continue
        own = {label for labels in samples[selector.name] for label in labels}
        for label, op, value in selector.matchers:
            if label == "__name__":
                continue
            if label not in own | TARGET_LABELS:
                wrong.append(f"{where}: {selector.name} has no label {label!r}")
            elif label in own and op == "=":
                values = {labels.get(label) for labels in samples[selector.name]}
                if value not in values:
                    wrong.append(f"{where}: {selector.name}{{{label}={value!r}}} never occurs")
    return wrong


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One ``cilium-gitops run`` for the module, after its first pass."""
    with serve(tmp_path_factory.mktemp("service")) as running:
        yield running


@pytest.fixture(scope="module")
def samples(service: Service) -> Exported:
    code, text = service.get("/metrics")
    assert code == 200
    return exported(text)


def test_promql_selectors_are_found_where_promql_puts_them() -> None:
    """Names in selectors, ranges, aggregations, binary operators; not functions or labels."""
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{namespace=~"$ns", x="a,b}"}'
        "[$__rate_interval]))) > 1e3 and on(pod) group_left(reason) max without (job) (b)"
        " - time() / count(c offset 5m) unless d{y!~'z'} or absent(e) + Inf"
    ).replace("'z'", '"z"')
    assert selectors(expr) == [
        Selector("a_bucket", (("namespace", "=~", "$ns"), ("x", "=", "a,b}"))),
        Selector("b"),
        Selector("c"),
        Selector("d", (("y", "!~", "z"),)),
        Selector("e"),
    ]
    assert selectors('{__name__="f", g="h"}') == [
        Selector("f", (("__name__", "=", "f"), ("g", "=", "h")))
    ]
    assert grafana_selectors('label_values(v{namespace=~"$namespace"}, pod)') == [
        Selector("v", (("namespace", "=~", "$namespace"),))
    ]


def test_a_renamed_metric_label_or_state_is_caught(samples: Exported) -> None:
    """The check is not vacuous: wrong names, labels and values are each reported."""
    wrong = selectors(
        'rate(cilium_gitops_commits_total[5m]) + cilium_gitops_breaker{state="open"}'
        ' + cilium_gitops_stalled{reason="push-rejected"} + cilium_gitops_stalled{pod="x"}'
    )
    assert problems("expr", wrong, samples) == [
        "expr: cilium_gitops_commits_total is not exported",
        "expr: cilium_gitops_breaker has no label 'state'",
        "expr: cilium_gitops_stalled{reason='push-rejected'} never occurs",
    ]


def test_every_alert_and_dashboard_query_reads_exported_metrics(samples: Exported) -> None:
    """Each selector of every alert, panel and variable is on /metrics of a running service."""
    found = queries()
    assert len(found) >= 30
    wrong = [p for where, chosen in found.items() for p in problems(where, chosen, samples)]
    assert wrong == []
    empty = [where for where, chosen in found.items() if not chosen]
    assert empty == []  # every expression reads at least one of the service's metrics
    names = {s.name for chosen in found.values() for s in chosen}
    assert all(name.startswith("cilium_gitops_") for name in names), names


def test_the_new_metrics_are_served_and_documented(samples: Exported) -> None:
    """The latency histogram and the failure counters exist from start-up, at zero."""
    for name in (
        "cilium_gitops_event_to_push_seconds_count",
        "cilium_gitops_watch_failures_total",
        "cilium_gitops_push_failures_total",
    ):
        assert name in samples
    service_docs = (ROOT / "docs" / "service.md").read_text(encoding="utf-8")
    for name in ("event_to_push_seconds", "watch_failures_total", "push_failures_total"):
        assert name in service_docs


def test_alerts_cover_the_failures_a_person_must_act_on() -> None:
    """The issue's failures each have an alert, with severity, texts and a runbook section."""
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    for wanted in (
        "CiliumGitopsWatchDown",
        "CiliumGitopsPushFailing",
        "CiliumGitopsPoliciesRejected",
        "CiliumGitopsResyncFoundDrift",
        "CiliumGitopsCircuitBreakerOpen",
        "CiliumGitopsCursorNotAdvancing",
        "CiliumGitopsStalled",
    ):
        assert wanted in names
    headings = {
        line.removeprefix("## ").strip().lower()
        for line in RUNBOOKS.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        annotations = rule["annotations"]
        assert annotations["summary"]
        assert annotations["description"]
        url, _, anchor = annotations["runbook_url"].partition("#")
        assert url.endswith("/docs/runbooks.md")
        assert anchor == rule["alert"].lower()
        assert anchor in headings, f"no runbook section for {rule['alert']}"


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    """A panel each for events, passes, commits, rejections, event-to-push latency, breaker."""
    board = dashboard()
    panels = [p for p in _panels(board) if p["type"] != "row"]
    titles = {p["title"] for p in panels}
    for wanted in (
        "Events",
        "Passes",
        "Commits",
        "Rejections",
        "Latency from event to push",
        "Circuit breaker",
    ):
        assert wanted in titles
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"]
    latency = next(p for p in panels if p["title"] == "Latency from event to push")
    assert all(
        "cilium_gitops_event_to_push_seconds_bucket" in t["expr"] for t in latency["targets"]
    )
    ids = [p["id"] for p in _panels(board)]
    assert len(ids) == len(set(ids))


@needs_kubectl
def test_the_dashboard_configmap_is_labelled_for_the_grafana_sidecar() -> None:
    """The component's ConfigMap holds the JSON file unchanged, with grafana_dashboard=1."""
    objects = kustomize(MONITORING)
    config_map = one(objects, "ConfigMap", "cilium-gitops-dashboard")
    assert config_map["metadata"]["name"] == "cilium-gitops-dashboard"  # no hash: stable
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["cilium-gitops.json"]) == dashboard()
    rule = one(objects, "PrometheusRule", "cilium-gitops")
    assert rule["spec"] == yaml.safe_load(RULES.read_text(encoding="utf-8"))["spec"]
