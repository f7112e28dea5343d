"""The planner: golden trees (before + desired -> after, plan text) and properties."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from admitting import read, record
from conftest import GOLDEN, assert_golden, entry
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reconciler.desired.state import FileSource
from reconciler.errors import UnsafePathError
from reconciler.reconcile.apply import apply_plan
from reconciler.reconcile.outcome import tree_after
from reconciler.reconcile.passes import render_only
from reconciler.reconcile.plan import Action, make_plan, planned_after, replan, settled_plan
from reconciler.reconcile.report import plan_lines, rejection_lines
from reconciler.render.tree import scan

if TYPE_CHECKING:
    from reconciler.desired.record import Record

TREES = GOLDEN / "trees"
CASES = sorted(p.name for p in TREES.iterdir()) if TREES.is_dir() else []


def files_of(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def test_there_are_golden_trees() -> None:
    assert len(CASES) >= 3


@pytest.mark.parametrize("case", CASES)
def test_golden_tree(case: str, tmp_path: Path) -> None:
    source = TREES / case
    work = tmp_path / "tree"
    if (source / "before").is_dir():
        shutil.copytree(source / "before", work, symlinks=True)
    else:
        work.mkdir()
    state = read(FileSource(source / "desired.yaml"))
    plan = render_only(state, work)
    lines = plan_lines(plan) + rejection_lines(state.rejections + plan.rejections)
    assert_golden(source / "plan.txt", "\n".join(lines) + "\n")
    after = source / "after"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(after, ignore_errors=True)
        shutil.copytree(work, after, symlinks=True)
    assert files_of(work) == files_of(after)
    # Applying is idempotent: planning again over the result finds nothing to do.
    again = make_plan(state.policies, scan(work), held_ids=state.rejected_ids)
    assert again.is_empty, plan_lines(again)


def test_two_policies_for_one_file_are_both_rejected() -> None:
    a = _policy(entry("shop", "web", policy_id="a"))
    b = _policy(entry("shop", "web", policy_id="b", port="81"))
    plan = make_plan([a, b], scan(Path("/nonexistent")))
    assert {(r.policy_id, r.field) for r in plan.rejections} == {("a", "name"), ("b", "name")}
    assert all("maps to shop/web.yaml" in r.reason for r in plan.rejections)
    assert all(c.path != "shop/web.yaml" for c in plan.changes)


def test_duplicate_ids_are_rejected() -> None:
    a = _policy(entry("shop", "web", policy_id="same"))
    b = _policy(entry("shop", "api", policy_id="same"))
    plan = make_plan([a, b], scan(Path("/nonexistent")))
    assert [(r.policy_id, r.field) for r in plan.rejections] == [("same", "id"), ("same", "id")]


def test_hand_written_kustomization_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n- mine.yaml\n")
    with pytest.raises(UnsafePathError, match="written by hand"):
        make_plan([_policy(entry("shop", "web"))], scan(tmp_path))


def _policy(raw: dict[str, Any]) -> Record:
    return record(raw)


# -- properties ---------------------------------------------------------------------------------

names = st.sampled_from(["web", "api", "db", "cache", "dns"])
namespaces = st.sampled_from(["shop", "payments", "monitoring"])
desired_sets = st.lists(
    st.tuples(namespaces, names, st.sampled_from(["80", "443", "8080"])),
    max_size=8,
    unique_by=lambda t: (t[0], t[1]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=desired_sets, second=desired_sets)
def test_apply_converges_and_keeps_unmanaged(
    first: list[tuple[str, str, str]],
    second: list[tuple[str, str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = tmp_path_factory.mktemp("prop")
    (root / "shop").mkdir()
    (root / "shop" / "human.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    for wanted in (first, second):
        policies = [_policy(entry(ns, n, port=port)) for ns, n, port in wanted]
        before = scan(root)
        plan = make_plan(policies, before)
        apply_plan(root, plan)
        # What the planner predicts the tree to be is what a scan then reads.
        assert tree_after(before, plan) == scan(root)
        # After applying, the tree holds exactly the desired files plus the human's file.
        expected = {f"{ns}/{n}.yaml" for ns, n, _ in wanted} | {"shop/human.yaml"}
        assert set(scan(root).files) == expected
        again = make_plan(policies, scan(root), version=3)
        assert again.is_empty
        # What a pass over a settled commit plans without reading it (``reconcile.settled``).
        assert settled_plan(policies, version=3) == again
        # Every change in a plan is one of the four actions, with a reason.
        assert all(c.action in Action and c.reason for c in plan.changes)
    assert (root / "kustomization.yaml").is_file()


# -- property: a delta plan is the full plan ----------------------------------------------------

mutations = st.lists(
    st.tuples(
        st.sampled_from(["add", "edit", "drop", "rename"]),
        st.integers(0, 50),
        namespaces,
        names,
        st.sampled_from(["80", "443"]),
    ),
    max_size=10,
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=desired_sets, steps=mutations)
def test_replan_equals_make_plan(
    first: list[tuple[str, str, str]],
    steps: list[tuple[str, int, str, str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """After an applied plan, planning only what changed gives exactly the full plan, or defers."""
    root = tmp_path_factory.mktemp("delta")
    held = [_policy(entry(ns, n, port=port)) for ns, n, port in first]
    before = scan(root)
    plan = make_plan(held, before)
    apply_plan(root, plan)
    base = planned_after(held, plan)
    assert base is not None
    tree = tree_after(before, plan)
    current = list(held)
    for verb, pick, ns, name, port in steps:
        if not current:
            break
        index = pick % len(current)
        victim = current[index]
        if verb == "edit":
            current[index] = _policy(
                entry(victim.namespace or "", victim.name, port=port, policy_id=victim.id)
            )
        elif verb == "drop":
            del current[index]
        elif verb == "rename":
            current[index] = _policy(entry(ns, name, port=port, policy_id=victim.id))
        else:
            current.append(_policy(entry(ns, name, port=port, policy_id=f"new-{ns}-{name}")))
    delta = replan(base, current, tree)
    full = make_plan(current, tree)
    event("delta" if delta is not None else "deferred")
    if delta is not None:
        delta_plan, next_base = delta
        assert delta_plan == full
        # The base it hands on for the next delta is the one a full pass would build.
        assert next_base == planned_after(current, full)
        assert list(next_base.changes) == sorted(next_base.changes)
    else:
        # Deferring is only allowed when the full plan has something the delta cannot judge.
        ids = [p.id for p in current]
        paths = [p.path for p in current]
        assert full.rejections or len(set(ids)) < len(ids) or len(set(paths)) < len(paths)


def test_one_edit_is_planned_as_a_delta(tmp_path: Path) -> None:
    held = [_policy(entry("shop", n)) for n in ("a", "b", "c")]
    plan = make_plan(held, scan(tmp_path))
    apply_plan(tmp_path, plan)
    base = planned_after(held, plan)
    assert base is not None
    edited = [held[0], _policy(entry("shop", "b", port="9090")), held[2]]
    delta = replan(base, edited, scan(tmp_path))
    assert delta is not None
    assert [(c.action, c.path) for c in delta[0].effective] == [(Action.UPDATE, "shop/b.yaml")]
    assert delta[0] == make_plan(edited, scan(tmp_path))
