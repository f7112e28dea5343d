"""A one-shot pass that costs what changed, and gives what the full pass gives, byte for byte.

The fast path: entries of the desired-state file whose exact bytes were planned against an intact
file of the tree are not validated or rendered again (``render.admission``), the tree is read
from the commit's listing and the tree cache (``render.tree_cache``), not from disk. These tests
run it beside the full path (the cache deleted before every pass) on random sequences of desired
states, hand edits by another writer, and a cache that is corrupted, stale, or from another
renderer, and compare the commits: the same trees, the same messages.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import pytest
from admitting import admission, planned_from
from conftest import DEFAULT_PATH, Remote, entry, git, write_state
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.desired.reading import parse_json, stream_json_object
from reconciler.desired.state import FileSource
from reconciler.errors import ConfigError
from reconciler.gitops import GitSettings, Workspace, init_bare, settled_file, tree_cache_file
from reconciler.reconcile.passes import PassOptions, SyncResult, reconcile
from reconciler.reconcile.report import _Lazy, json_text
from reconciler.render.templates import Templates, load_templates
from reconciler.render.tree import FileState, _resource, kustomization
from reconciler.render.tree_cache import TreeCache

if TYPE_CHECKING:
    from pathlib import Path

TEMPLATES = load_templates()
# Every pass may delete anything: the deletion guard is not what is compared here.
OPTIONS = PassOptions(allow_mass_delete=True)


def one_shot(
    state_file: Path, remote: str, workdir: Path, templates: Templates = TEMPLATES
) -> SyncResult:
    """``cilium-gitops sync`` as a new process runs it: nothing in memory, the file read by the
    pass."""
    with Workspace(workdir, GitSettings(url=remote)) as workspace:
        return reconcile(FileSource(state_file).desired, workspace, templates, OPTIONS)


def skipped(result: SyncResult) -> int:
    """How many entries the pass took from the cache instead of validating them."""
    assert result.state is not None
    return sum(1 for record in result.state.policies if record.body is None)


def head(remote: Remote) -> tuple[str, str, int]:
    """What a commit is, for comparing two repositories: its tree, its message, the count."""
    tree = git("rev-parse", "main^{tree}", cwd=remote.path).strip()
    message = git("log", "-1", "--format=%B", "main", cwd=remote.path)
    return tree, message, len(remote.commits())


class Side:
    """One repository and its workdir, synced by the fast or the full path."""

    def __init__(self, base: Path, name: str, *, fast: bool) -> None:
        self.remote = Remote(base / f"{name}.git", init_bare(base / f"{name}.git", "main"))
        self.workdir = base / f"{name}-work"
        self.fast = fast
        self.last: SyncResult | None = None

    def sync(self, state_file: Path) -> SyncResult:
        if not self.fast:
            tree_cache_file(self.workdir).unlink(missing_ok=True)
            settled_file(self.workdir).unlink(missing_ok=True)
        self.last = one_shot(state_file, self.remote.url, self.workdir)
        return self.last

    def hand_edit(self, base: Path, step: int) -> None:
        """Another writer changes one managed file and pushes."""
        other = base / f"other-{self.remote.path.stem}-{step}"
        self.remote.clone(other)
        files = sorted((other / DEFAULT_PATH).glob("*/*.yaml"))
        files = [f for f in files if f.name != "kustomization.yaml"]
        if not files:
            return
        victim = files[step % len(files)]
        victim.write_text(victim.read_text().replace("app: frontend", "app: anyone"))
        git("commit", "--quiet", "-am", "hand edit", cwd=other)
        git("push", "--quiet", "origin", "HEAD:main", cwd=other)


names = st.sampled_from(["web", "api", "db"])
namespaces = st.sampled_from(["shop", "pay"])
one_entry = st.tuples(namespaces, names, st.sampled_from(["80", "443"]), st.integers(1, 3))
states = st.lists(one_entry, max_size=5, unique_by=lambda e: (e[0], e[1]))
steps = st.lists(
    st.one_of(
        st.tuples(st.just("state"), states),
        st.tuples(st.just("again"), st.none()),
        st.tuples(st.just("hand-edit"), st.none()),
        st.tuples(
            st.sampled_from(["corrupt", "truncate", "stale", "delete", "foreign"]), st.none()
        ),
        st.tuples(st.sampled_from(["unsettle", "settled-stale", "settled-torn"]), st.none()),
    ),
    min_size=1,
    max_size=6,
)


def _entries(chosen: list[tuple[str, str, str, int]]) -> list[dict[str, object]]:
    return [entry(ns, name, port=port, version=version) for ns, name, port, version in chosen]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=states, plan=steps)
def test_the_fast_path_commits_what_the_full_path_commits(
    first: list[tuple[str, str, str, int]],
    plan: list[tuple[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    base = tmp_path_factory.mktemp("fast")
    fast, full = Side(base, "fast", fast=True), Side(base, "full", fast=False)
    state_file = write_state(base / "desired.json", _entries(first))
    saved: bytes | None = None
    for side in (fast, full):
        side.sync(state_file)
    said = _read(settled_file(fast.workdir), None)  # the first pass's, of the first commit
    for step, (verb, value) in enumerate(plan):
        cache = tree_cache_file(fast.workdir)
        if verb == "state":
            write_state(state_file, _entries(value))
        elif verb == "hand-edit":
            fast.hand_edit(base, step)
            full.hand_edit(base, step)
        elif verb in {"unsettle", "settled-stale", "settled-torn"}:
            _unsettle(settled_file(fast.workdir), verb, said)
        else:
            _damage(cache, verb, saved)
        fast_result, full_result = fast.sync(state_file), full.sync(state_file)
        assert head(fast.remote) == head(full.remote), f"step {step}: {verb}"
        assert fast_result.plan == full_result.plan
        assert planned_from(fast_result.state) == planned_from(full_result.state)
        assert skipped(full_result) == 0
        if verb == "again" and fast_result.commit is None:
            # Nothing changed since a pass that left its cache: every entry is skipped.
            assert skipped(fast_result) == len(fast_result.plan.changes)
        saved = cache.read_bytes() if cache.is_file() else saved


def _read(path: Path, otherwise: bytes | None) -> bytes | None:
    return path.read_bytes() if path.is_file() else otherwise


def _unsettle(line: Path, verb: str, said: bytes | None) -> None:
    """Do to the fast side's settled line what ``verb`` says."""
    if not line.is_file():
        return
    if verb == "unsettle":
        line.unlink()
    elif verb == "settled-stale" and said is not None:
        line.write_bytes(said)
    elif verb == "settled-torn":
        line.write_bytes(line.read_bytes()[:-20])


def _damage(cache: Path, verb: str, saved: bytes | None) -> None:
    """Do to the fast side's tree cache what ``verb`` says."""
    if not cache.is_file() or verb == "again":
        return
    if verb == "corrupt":
        data = bytearray(cache.read_bytes())
        data[len(data) // 2] ^= 0x01
        cache.write_bytes(bytes(data))
    elif verb == "truncate":
        cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])
    elif verb == "stale" and saved is not None:
        cache.write_bytes(saved)  # what an earlier pass knew, of an earlier commit
    elif verb == "delete":
        cache.unlink()
    elif verb == "foreign":
        # What a renderer with other templates or another version learned: well-formed, with
        # a good checksum, and inputs salted apart from ours.
        known = TreeCache.load(cache)
        foreign = [
            s._replace(input=hashlib.sha256(f"other {s.input}".encode()).hexdigest())
            for s in known.states()
        ]
        TreeCache(foreign).save(cache)


def test_an_unchanged_file_is_not_validated_again_and_a_changed_entry_is(
    remote: Remote, tmp_path: Path
) -> None:
    entries = [entry("shop", n) for n in ("web", "api", "db")]
    state_file = write_state(tmp_path / "desired.json", entries)
    workdir = tmp_path / "work"
    first = one_shot(state_file, remote.url, workdir)
    assert first.commit is not None
    assert skipped(first) == 0
    again = one_shot(state_file, remote.url, workdir)
    assert again.commit is None
    assert skipped(again) == 3
    entries[1] = entry("shop", "api", port="9090", version=2)
    write_state(state_file, entries)
    changed = one_shot(state_file, remote.url, workdir)
    assert changed.plan.summary == "0 created, 1 updated, 0 deleted"
    assert skipped(changed) == 2  # only the changed entry was validated and rendered


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b: b[:-80] + bytes(x ^ 1 for x in b[-80:]), id="bit flips"),
        pytest.param(
            lambda b: b.replace(b"cilium-gitops tree cache 1", b"cilium-gitops tree cache 9"),
            id="other format",
        ),
        pytest.param(lambda _: b"\xff\xfe not text", id="not UTF-8"),
        pytest.param(lambda _: b"", id="empty"),
    ],
)
def test_a_damaged_tree_cache_is_ignored(damage: Any, remote: Remote, tmp_path: Path) -> None:
    state_file = write_state(tmp_path / "desired.json", [entry("shop", "web")])
    workdir = tmp_path / "work"
    one_shot(state_file, remote.url, workdir)
    cache = tree_cache_file(workdir)
    assert len(TreeCache.load(cache)) == 1  # the policy's file
    cache.write_bytes(damage(cache.read_bytes()))
    assert len(TreeCache.load(cache)) == 0
    result = one_shot(state_file, remote.url, workdir)
    assert result.commit is None
    assert skipped(result) == 0  # validated again, as if there were no cache
    assert len(TreeCache.load(cache)) > 0  # and the cache is written anew


def test_a_cache_that_lies_about_a_file_cannot_change_the_tree(
    remote: Remote, tmp_path: Path
) -> None:
    """A forged entry (checksum and all) names another id and path: it is not taken."""
    entries = [entry("shop", "web"), entry("shop", "api")]
    state_file = write_state(tmp_path / "desired.json", entries)
    workdir = tmp_path / "work"
    one_shot(state_file, remote.url, workdir)
    cache = tree_cache_file(workdir)
    known = TreeCache.load(cache)
    by_path = {s.path: s for s in known.states()}
    web, api = by_path["shop/web.yaml"], by_path["shop/api.yaml"]
    # Swap what the two files were planned against: each input now points at the other file.
    forged = TreeCache([web._replace(input=api.input), api._replace(input=web.input)])
    forged.save(cache)
    entries[0] = entry("shop", "web", port="9090", version=2)
    write_state(state_file, entries)
    result = one_shot(state_file, remote.url, workdir)
    assert result.plan.summary == "0 created, 1 updated, 0 deleted"
    assert skipped(result) == 0
    assert "9090" in remote.show(f"{DEFAULT_PATH}/shop/web.yaml")


# -- the desired-state file, read entry by entry ------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    policies=st.lists(json_values, max_size=5),
    extra=st.dictionaries(st.sampled_from(["version", "other"]), json_values, max_size=2),
    indent=st.sampled_from([None, 1, 2]),
)
def test_streaming_reads_what_a_whole_parse_reads(
    policies: list[object], extra: dict[str, object], indent: int | None
) -> None:
    text = json.dumps({**extra, "policies": policies}, indent=indent)
    members = list(stream_json_object(text, where="f", stream="policies"))
    items = [m.value for m in members if m.item]
    whole = parse_json(text, where="f")
    assert isinstance(whole, dict)
    assert items == whole["policies"]
    assert {m.key: m.value for m in members if not m.item} == {**whole, "policies": []}
    # Each item's text is exactly its bytes in the file: what the digest is taken over.
    assert all(json.loads(m.text) == m.value for m in members if m.item)


def _strictly(text: str) -> list[object] | None:
    """The items as a reader that acts on them gets them (each checked); None if refused."""
    try:
        members = list(stream_json_object(text, where="f", stream="policies"))
        return [parse_json(m.text, where="f") for m in members if m.item]
    except ConfigError:
        return None


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet='{}[]",:0123456789 aNtrue\\u', max_size=40))
def test_streaming_refuses_what_a_whole_parse_refuses(text: str) -> None:
    try:
        whole = parse_json(text, where="f")
    except ConfigError:
        whole = ConfigError
    items = _strictly(text)
    if whole is ConfigError or not isinstance(whole, dict):
        assert items is None
    elif isinstance(whole.get("policies", []), list):
        assert items == whole.get("policies", [])
    else:
        assert items is None  # 'policies' that is not a list is refused


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"policies": [1,]}', "Expecting value"),
        ('{"policies": [1, 2', "Expecting"),
        ('{"policies": [], "policies": []}', "duplicate key 'policies'"),
        ('{"policies": []} trailing', "Extra data"),
        ('{"policies": {}}', "'policies' must be a list, got dict"),
    ],
)
def test_a_broken_file_is_refused_naming_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        list(stream_json_object(text, where="f", stream="policies"))


@pytest.mark.parametrize("knowing", [False, True], ids=["cold", "with a cache"])
@pytest.mark.parametrize(
    ("entry_text", "why"),
    [
        ('{"id": "a", "id": "b"}', "invalid JSON: duplicate key 'id'"),
        ('{"id": "a", "version": NaN}', "invalid JSON: NaN is not JSON"),
        ('{"id": "\\ud800"}', "a string holds a lone UTF-16 surrogate"),
    ],
)
def test_an_entry_that_is_not_strict_json_refuses_the_file(
    entry_text: str, why: str, knowing: bool, tmp_path: Path
) -> None:
    """Read strictly at once when nothing can be known; else leniently, then strictly."""
    good = json.dumps(entry("shop", "web"))
    path = tmp_path / "desired.json"
    path.write_text(f'{{"policies": [{good}, {entry_text}]}}')
    known = {"0" * 64: FileState("x/y.yaml", managed=True)} if knowing else None
    admit = admission(tree=known)
    assert admit.knows is knowing
    with pytest.raises(ConfigError, match=why):
        FileSource(path).desired(admit)


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(
        st.one_of(
            st.from_regex(r"[a-z][a-z0-9-]{0,8}\.yaml", fullmatch=True),
            st.sampled_from(["on", "No", "y", "2024-01-01", "a b.yaml", "x: y", "_cluster"]),
            st.text(min_size=1, max_size=6),
        ),
        max_size=8,
        unique=True,
    )
)
def test_a_folder_list_is_written_as_each_name_alone_would_be(names: list[str]) -> None:
    """The one-check fast path of ``kustomization`` writes what naming each entry does."""
    lines = kustomization(names).decode().splitlines()
    listed = lines[lines.index("resources:") + 1 :] if names else []
    assert listed == [f"- {_resource(name)}" for name in sorted(names)]


@settings(max_examples=100, deadline=None)
@given(
    items=st.lists(st.dictionaries(st.text(max_size=3), json_values, max_size=3), max_size=4),
    rest=st.dictionaries(st.sampled_from(["summary", "rejections"]), json_values, max_size=2),
)
def test_the_json_report_is_written_in_pieces_as_one_text(
    items: list[dict[str, object]], rest: dict[str, object]
) -> None:
    """A plan's changes are made one at a time as they are written: the text is the same."""
    lazy = {**rest, "changes": _Lazy(iter(items)), "after": [1]}
    whole = {**rest, "changes": items, "after": [1]}
    assert "".join(json_text(lazy)) == json.dumps(whole, indent=2)
