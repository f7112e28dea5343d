"""Hostile desired-state files: every bad entry is rejected by id and field, the rest committed.

The corpus of bad entries (``hostile_cases.CASES``) goes to one real ``cilium-gitops sync``
per format (YAML and JSON), beside valid policies; each case then checks its own rejection.
The file-level cases (a file that cannot be read as desired state at all) run one process each
and must refuse the whole file without touching the repository. Issue 15.
"""

from __future__ import annotations

import json
import os
import socket
from typing import TYPE_CHECKING, Any

import pytest
import yaml as pyyaml
from conftest import DEFAULT_PATH, git
from hostile_cases import CASES, COLLISIONS, NOT_RAW, REGION, VALID, Case
from hostile_support import (
    Run,
    assert_well_behaved,
    committed_paths,
    everything_under,
    rejection_lines,
    run_cli,
)
from ruamel.yaml import YAML

from reconciler.gitops import init_bare
from reconciler.scrub import printable

if TYPE_CHECKING:
    from pathlib import Path

FORMATS = ("yaml", "json")


def hermetic_env(home: Path) -> dict[str, str]:
    """No user or system git configuration reaches the process under test."""
    return {
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Someone Else",
        "GIT_AUTHOR_EMAIL": "someone@example.com",
        "GIT_COMMITTER_NAME": "Someone Else",
        "GIT_COMMITTER_EMAIL": "someone@example.com",
    }


def write_document(path: Path, document: Any) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(document), encoding="utf-8")
    else:
        with path.open("w", encoding="utf-8") as stream:
            YAML(typ="safe").dump(document, stream)
    return path


class Outcome:
    """One sync of the whole corpus in one format."""

    def __init__(self, base: Path, fmt: str) -> None:
        self.base = base
        self.remote = base / "remote.git"
        init_bare(self.remote, "main")
        self.entries = [case.entry() for case in CASES] + COLLISIONS + VALID
        state = write_document(base / f"desired.{fmt}", {"version": 9, "policies": self.entries})
        self.run: Run = run_cli(
            "sync",
            "--control-plane",
            f"file://{state}",
            "--repo",
            self.remote.as_uri(),
            "--workdir",
            str(base / "work"),
            "--region",
            REGION,
            env=hermetic_env(base / "home"),
        )

    def rejected_id(self, case: Case) -> str:
        if case.id_shown == "@" or case.raw is not NOT_RAW:
            return f"policies[{CASES.index(case)}]"
        return case.id_shown if case.id_shown is not None else f"h-{case.name}"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    return {fmt: Outcome(tmp_path_factory.mktemp(fmt), fmt) for fmt in FORMATS}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_each_bad_entry_is_rejected_by_its_id_and_field(
    case: Case, fmt: str, outcomes: dict[str, Outcome]
) -> None:
    """The rejection names the policy and the field, on one line; nothing of it is written."""
    outcome = outcomes[fmt]
    field = f"policies[{CASES.index(case)}]" if case.field == "@" else case.field
    prefix = f"rejected: {printable(outcome.rejected_id(case))}: {printable(field)}: "
    lines = [line for line in rejection_lines(outcome.run.stderr) if line.startswith(prefix)]
    assert lines, f"no line starting {prefix!r} in:\n{outcome.run.stderr[-4000:]}"
    assert any(case.reason in line for line in lines), lines
    written = committed_paths(outcome.remote)
    assert not [path for path in written if path.endswith(f"/{case.file_name}.yaml")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_valid_policies_are_committed_beside_them(
    fmt: str, outcomes: dict[str, Outcome]
) -> None:
    """Exit 3 (some rejected), one commit holding exactly the valid policies, no traceback."""
    outcome = outcomes[fmt]
    assert_well_behaved(outcome.run, codes=(3,))
    files = git("ls-tree", "-r", "--name-only", "main", cwd=outcome.remote).split()
    policies = sorted(f for f in files if not f.endswith("kustomization.yaml"))
    assert policies == [
        f"{DEFAULT_PATH}/_cluster/host-firewall.yaml",
        f"{DEFAULT_PATH}/shop/api.yaml",
        f"{DEFAULT_PATH}/shop/db.yaml",
        f"{DEFAULT_PATH}/shop/odd-text.yaml",
    ]
    assert len(git("log", "--format=%H", "main", cwd=outcome.remote).split()) == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_nothing_is_written_outside_the_managed_folder(
    fmt: str, outcomes: dict[str, Outcome]
) -> None:
    """Not in the commit, and not on disk: names such as ../../etc/passwd are refused first."""
    outcome = outcomes[fmt]
    assert all(p.startswith(f"{DEFAULT_PATH}/") for p in committed_paths(outcome.remote))
    top = {p.split("/", 1)[0] for p in everything_under(outcome.base)}
    assert top <= {"remote.git", "work", "home", f"desired.{fmt}"}
    assert not (outcome.base.parent / "etc").exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_rejection_is_one_line_and_nothing_is_forged(
    fmt: str, outcomes: dict[str, Outcome]
) -> None:
    """An id holding a newline cannot add a line of its own to stderr or to the commit."""
    outcome = outcomes[fmt]
    stderr = outcome.run.stderr.splitlines()
    assert all(line.startswith("rejected: ") for line in stderr), stderr
    assert not [line for line in stderr if line.startswith("rejected: forged")]
    assert "\x1b" not in outcome.run.output
    message = git("log", "-1", "--format=%B", "main", cwd=outcome.remote)
    trailers = [line for line in message.splitlines() if line.startswith("Control-Plane-")]
    assert trailers == ["Control-Plane-Version: 9", f"Control-Plane-Region: {REGION}"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_colliding_entries_are_each_rejected(fmt: str, outcomes: dict[str, Outcome]) -> None:
    """Two entries with one id, or for one file: both refused, neither file written."""
    stderr = outcomes[fmt].run.stderr
    assert stderr.count("rejected: h-same-id: id: the same id is desired more than once") == 2
    assert "rejected: h-same-file-1: name: maps to hostile/same-file.yaml" in stderr
    assert "rejected: h-same-file-2: name: maps to hostile/same-file.yaml" in stderr


@pytest.mark.parametrize("fmt", FORMATS)
def test_odd_text_reads_back_as_itself_in_yaml_1_1_and_1_2(
    fmt: str, outcomes: dict[str, Outcome]
) -> None:
    """A description full of YAML syntax, escapes and separators is one string in the file."""
    remote = outcomes[fmt].remote
    text = git("show", f"main:{DEFAULT_PATH}/shop/odd-text.yaml", cwd=remote)
    wanted = VALID[3]["policy"]["description"]
    assert pyyaml.safe_load(text)["spec"]["description"] == wanted  # YAML 1.1
    assert YAML(typ="safe").load(text)["spec"]["description"] == wanted  # YAML 1.2
    assert len(list(pyyaml.safe_load_all(text))) == 1


# -- files that are not a desired state at all: refused whole, nothing changed --------------

# Billion laughs: nine levels of nine aliases, 9**9 strings once expanded.
BOMB = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 9) + "]\n" for n in range(1, 10)
)

FILE_CASES: dict[str, tuple[str, str | bytes, str]] = {
    # name: (suffix, content, what the error says)
    "billion-laughs": (".yaml", "policies: []\n" + BOMB, "excessive aliasing"),
    "deep-flow-nesting": (".yaml", "policies: " + "[" * 5000 + "]" * 5000, "nested"),
    "deep-json": (".json", '{"policies": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested"),
    "not-utf-8": (".yaml", b"policies: []\n# caf\xe9\n", "not UTF-8 text (byte 18)"),
    "utf-16": (".yaml", "policies: []\n".encode("utf-16"), "not UTF-8"),
    "binary": (".yaml", bytes(range(256)) * 4, "not UTF-8"),
    "empty": (".yaml", "", "expected a mapping with a top-level 'policies:' list"),
    "null": (".yaml", "null\n", "expected a mapping"),
    "top-level-list": (".yaml", "- id: a\n", "expected a mapping"),
    "policies-a-mapping": (".yaml", "policies: {id: a}\n", "'policies' must be a list"),
    "policies-a-string": (".yaml", "policies: all\n", "'policies' must be a list"),
    "unknown-top-level": (".yaml", "policies: []\nversoin: 3\n", "unknown top-level"),
    "duplicate-key-yaml": (".yaml", "policies: []\npolicies: []\n", "duplicate key"),
    "duplicate-key-json": (".json", '{"policies": [], "policies": []}', "duplicate key"),
    "duplicate-key-in-entry": (
        ".json",
        '{"policies": [{"id": "a", "id": "b", "name": "n", "policy": {}}]}',
        "duplicate key 'id'",
    ),
    "json-nan": (".json", '{"policies": [], "version": NaN}', "NaN is not JSON"),
    "json-trailing-garbage": (".json", '{"policies": []} {}', "invalid JSON"),
    "yaml-python-tag": (".yaml", "policies: !!python/object:os.system []\n", "constructor"),
    "yaml-binary-tag": (".yaml", "policies:\n- id: !!binary aGVsbG8=\n", "builds a bytes"),
    "lone-surrogate": (
        ".json",
        (
            '{"policies": [{"id": "a", "name": "n", "namespace": "s", "policy": '
            '{"description": "\\ud800", "endpointSelector": {}, "ingress": [{}]}}]}'
        ),
        "lone UTF-16 surrogate",
    ),
    "syntax-error": (".yaml", "policies: [\n", "invalid YAML"),
}


@pytest.fixture
def managed_remote(tmp_path: Path) -> Path:
    """A remote that already holds a managed tree: a refused file must leave it as it is."""
    remote = tmp_path / "remote.git"
    init_bare(remote, "main")
    state = write_document(tmp_path / "seed.yaml", {"policies": VALID[:2]})
    run = run_cli(
        "sync",
        "--control-plane",
        f"file://{state}",
        "--repo",
        remote.as_uri(),
        "--workdir",
        str(tmp_path / "work"),
        env=hermetic_env(tmp_path / "home"),
    )
    assert_well_behaved(run, codes=(0,))
    return remote


def _sync(tmp_path: Path, remote: Path, state: Path, *more: str) -> Run:
    return run_cli(
        "sync",
        "--control-plane",
        f"file://{state}",
        "--repo",
        remote.as_uri(),
        "--workdir",
        str(tmp_path / "work"),
        *more,
        env=hermetic_env(tmp_path / "home"),
    )


@pytest.mark.parametrize("name", sorted(FILE_CASES))
def test_a_file_that_is_not_a_desired_state_is_refused_whole(
    name: str, tmp_path: Path, managed_remote: Path
) -> None:
    """Exit 2 with the file and the reason named; the managed tree is left exactly as it was."""
    suffix, content, says = FILE_CASES[name]
    state = tmp_path / f"hostile{suffix}"
    if isinstance(content, bytes):
        state.write_bytes(content)
    else:
        state.write_text(content, encoding="utf-8")
    before = git("rev-parse", "main", cwd=managed_remote)
    run = _sync(tmp_path, managed_remote, state)
    assert_well_behaved(run, codes=(2,))
    assert says in run.stderr, run.stderr
    assert str(state) in run.stderr
    assert len(run.stderr.splitlines()) == 1
    assert git("rev-parse", "main", cwd=managed_remote) == before


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path: Path, managed_remote: Path) -> None:
    """A FIFO named as the desired-state file: refused unread (it used to hang forever)."""
    state = tmp_path / "desired.yaml"
    os.mkfifo(state)
    run = _sync(tmp_path, managed_remote, state)
    assert_well_behaved(run, codes=(2,))
    assert "is a FIFO, not a regular file" in run.stderr


def test_a_socket_or_folder_is_refused(tmp_path: Path, managed_remote: Path) -> None:
    """Neither is read: each is named for what it is."""
    folder = tmp_path / "desired.yaml"
    folder.mkdir()
    run = _sync(tmp_path, managed_remote, folder)
    assert_well_behaved(run, codes=(2,))
    assert "is a folder" in run.stderr or "Is a directory" in run.stderr
    with socket.socket(socket.AF_UNIX) as server:
        path = tmp_path / "s.yaml"
        server.bind(str(path))
        run = _sync(tmp_path, managed_remote, path)
    assert_well_behaved(run, codes=(2,))
    assert "No such device" in run.stderr or "is a socket" in run.stderr


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path, managed_remote: Path) -> None:
    """A 300 MB (sparse) file is refused by its size alone: no memory is spent on it."""
    state = tmp_path / "desired.yaml"
    with state.open("wb") as stream:
        stream.truncate(300 * 1024 * 1024)
    run = _sync(tmp_path, managed_remote, state)
    assert_well_behaved(run, codes=(2,))
    assert "314,572,800 bytes, over the limit of 268,435,456 bytes" in run.stderr
    assert run.max_rss_mib < 200


def test_the_size_limit_can_be_raised_or_lowered(tmp_path: Path, managed_remote: Path) -> None:
    """--max-state-bytes sets the limit; the message names it."""
    state = write_document(tmp_path / "desired.yaml", {"policies": VALID[:2]})
    run = _sync(tmp_path, managed_remote, state, "--max-state-bytes", "100")
    assert_well_behaved(run, codes=(2,))
    assert "over the limit of 100 bytes" in run.stderr


def test_more_policies_than_the_limit_changes_nothing(tmp_path: Path, managed_remote: Path) -> None:
    """--max-policies: a state over it is refused whole, never cut short (that would delete)."""
    state = write_document(tmp_path / "desired.yaml", {"policies": VALID})
    before = git("rev-parse", "main", cwd=managed_remote)
    run = _sync(tmp_path, managed_remote, state, "--max-policies", "2")
    assert_well_behaved(run, codes=(2,))
    assert "4 policies, over the limit of 2 (--max-policies); nothing was changed" in run.stderr
    assert git("rev-parse", "main", cwd=managed_remote) == before


def test_a_large_scalar_is_rejected_by_size_within_the_memory_bound(tmp_path: Path) -> None:
    """A 50 MB description: that policy is rejected (over 1.5 MiB rendered), the rest committed,
    and the process stays under 512 MiB."""
    remote = tmp_path / "remote.git"
    init_bare(remote, "main")
    big: dict[str, Any] = {
        "id": "big",
        "namespace": "shop",
        "name": "big",
        "policy": {**VALID[0]["policy"], "description": "x" * (50 * 1024 * 1024)},
    }
    state = write_document(tmp_path / "desired.json", {"policies": [big, VALID[1]]})
    run = _sync(tmp_path, remote, state)
    assert_well_behaved(run, codes=(3,))
    assert "rejected: big: policy: the rendered file is" in run.stderr
    files = git("ls-tree", "-r", "--name-only", "main", cwd=remote).split()
    assert f"{DEFAULT_PATH}/shop/db.yaml" in files
    assert f"{DEFAULT_PATH}/shop/big.yaml" not in files
