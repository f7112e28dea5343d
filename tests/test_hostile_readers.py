"""Hostile inputs to the commands that read files: validate, diff, explain and history.

FIFOs, sockets and links out of the tree are reported and never read (a FIFO used to hang
``validate``); files that explode or cannot be parsed are reported, not crashed on; text from
the files or from git reaches the terminal, JSON, SARIF, JUnit, GitHub annotations and Markdown
shown, never obeyed. Each command runs as a process, bounded in time and memory. Issue 15.
"""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

import pytest
from conftest import git
from hostile_support import assert_well_behaved, run_cli
from ruamel.yaml import YAML

if TYPE_CHECKING:
    from pathlib import Path

CANARY = "canary-8f3e2a"  # in files outside the tree: must never be read
ANSI = "\x1b[2J\x1b[31m"


def policy(name: str, *, description: str = "", namespace: str = "shop") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "endpointSelector": {"matchLabels": {"app": "api"}},
        "ingress": [{"fromEntities": ["cluster"]}],
    }
    if description:
        spec["description"] = description
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def write_policy(path: Path, document: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as stream:
        YAML(typ="safe").dump(document, stream)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A folder of valid policies, and beside it a file outside the tree holding the canary."""
    folder = tmp_path / "tree"
    write_policy(folder / "shop" / "api.yaml", policy("api"))
    (tmp_path / "secret.yaml").write_text(f"canary: {CANARY}\n", encoding="utf-8")
    return folder


# -- validate --------------------------------------------------------------------------------


def test_validate_reports_a_fifo_and_does_not_wait_on_it(tree: Path) -> None:
    """CG002 for the FIFO; every other file checked; the run ends."""
    import os  # noqa: PLC0415 - os.mkfifo only here

    os.mkfifo(tree / "shop" / "pipe.yaml")
    run = run_cli("validate", str(tree))
    assert_well_behaved(run, codes=(0,))
    assert "pipe.yaml: warning CG002 not-a-file: a FIFO, not a regular file: not read" in run.stdout


def test_validate_reports_a_fifo_named_on_the_command_line(tmp_path: Path) -> None:
    import os  # noqa: PLC0415

    pipe = tmp_path / "p.yaml"
    os.mkfifo(pipe)
    run = run_cli("validate", str(pipe))
    assert_well_behaved(run, codes=(0,))
    assert "CG002" in run.stdout


def test_validate_reports_a_socket(tree: Path) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tree / "shop" / "sock.yaml"))
        run = run_cli("validate", str(tree))
    assert_well_behaved(run, codes=(0,))
    assert "sock.yaml: warning CG002" in run.stdout


def test_validate_never_follows_a_link_out_of_the_tree(tree: Path) -> None:
    """The link is reported; the file it points at is not read (its canary never shows)."""
    (tree / "shop" / "out.yaml").symlink_to(tree.parent / "secret.yaml")
    run = run_cli("validate", "--format", "json", str(tree))
    assert_well_behaved(run, codes=(0,))
    findings = json.loads(run.stdout)["findings"]
    assert [f["rule"] for f in findings if f["file"].endswith("out.yaml")] == ["CG002"]
    assert CANARY not in run.output


def test_validate_passes_over_a_link_inside_the_tree(tree: Path) -> None:
    """A link to a file of the tree: that file is checked once, under its own name."""
    (tree / "shop" / "same.yaml").symlink_to(tree / "shop" / "api.yaml")
    run = run_cli("validate", "--format", "json", str(tree))
    assert_well_behaved(run, codes=(0,))
    assert json.loads(run.stdout)["summary"]["files"] == 1


BOMB = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 9) + "]\n" for n in range(1, 10)
)
UNREADABLE: dict[str, tuple[bytes, str]] = {
    "billion-laughs": (
        (
            "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: a}\nspec:\n"
            "  description: x\n" + "".join("  " + line for line in BOMB.splitlines(keepends=True))
        ).encode(),
        "excessive aliasing",
    ),
    "deep-nesting": (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested"),
    "nine-mib": (b"# " + b"x" * (9 * 1024 * 1024) + b"\n", "larger than any policy file"),
    "not-utf-8": (b"kind: CiliumNetworkPolicy # caf\xe9\n", "not UTF-8 text (byte 31)"),
    "binary": (bytes(range(256)), "not UTF-8"),
    "tab-indent": (b"a:\n\tb: 1\n", "invalid YAML"),
    "python-tag": (b"a: !!python/object:os.system []\n", "invalid YAML"),
}


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_validate_reports_an_unreadable_file_and_goes_on(name: str, tree: Path) -> None:
    """CG001 with the reason, exit 2 (the tool could not check everything), no blow-up."""
    content, says = UNREADABLE[name]
    (tree / "shop" / f"{name}.yaml").write_bytes(content)
    run = run_cli("validate", "--format", "json", str(tree))
    assert_well_behaved(run, codes=(2,))
    findings = {f["file"].rsplit("/", 1)[-1]: f for f in json.loads(run.stdout)["findings"]}
    assert findings[f"{name}.yaml"]["rule"] == "CG001"
    assert says in findings[f"{name}.yaml"]["message"]
    assert json.loads(run.stdout)["summary"]["policies"] == 1  # api.yaml still checked


@pytest.fixture
def ansi_tree(tmp_path: Path) -> Path:
    """A policy whose name and a label hold a terminal escape and a newline."""
    folder = tmp_path / "tree"
    document = policy(f"bad{ANSI}\nname", namespace=f"ns{ANSI}")
    write_policy(folder / "evil.yaml", document)
    return folder


@pytest.mark.parametrize("fmt", ["text", "json", "junit", "sarif", "github"])
def test_validate_output_shows_escapes_and_never_emits_them(fmt: str, ansi_tree: Path) -> None:
    """Every format stays what it is: no raw ESC, each line one line, JSON and XML parse."""
    run = run_cli("validate", "--format", fmt, str(ansi_tree))
    assert_well_behaved(run, codes=(1,))
    assert "\x1b" not in run.output
    if fmt in {"json", "sarif"}:
        json.loads(run.stdout)
    elif fmt == "junit":
        ET.fromstring(run.stdout)  # noqa: S314 - our own output, parsed to prove it is XML
    elif fmt == "github":
        assert all(line.startswith("::") for line in run.stdout.splitlines()[:-1])
    else:
        assert "\\x1b[2J" in run.stdout


# -- diff and explain ------------------------------------------------------------------------


def test_diff_of_folders_skips_what_is_not_a_file_and_says_so(tmp_path: Path, tree: Path) -> None:
    """A FIFO and a link out of the folder: warned about on stderr, not read; the diff runs."""
    import os  # noqa: PLC0415

    after = tmp_path / "after"
    write_policy(after / "shop" / "api.yaml", policy("api", description="changed"))
    os.mkfifo(after / "shop" / "pipe.yaml")
    (after / "shop" / "out.yaml").symlink_to(tmp_path / "secret.yaml")
    run = run_cli("diff", str(tree), str(after))
    assert_well_behaved(run, codes=(0,))
    assert "warning: skipped shop/pipe.yaml: a FIFO, not a regular file: not read" in run.stderr
    assert "warning: skipped shop/out.yaml: a symlink to outside the folder" in run.stderr
    assert CANARY not in run.output
    assert "shop/api" in run.stdout


def test_diff_refuses_an_alias_bomb_instead_of_expanding_it(tmp_path: Path, tree: Path) -> None:
    """One side holds a billion-laughs policy: exit 2 naming the problem, memory bounded."""
    after = tmp_path / "after"
    (after / "shop").mkdir(parents=True)
    (after / "shop" / "bomb.yaml").write_bytes(UNREADABLE["billion-laughs"][0])
    run = run_cli("diff", str(tree), str(after))
    assert_well_behaved(run, codes=(2,))
    assert "excessive aliasing" in run.stderr


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_diff_output_cannot_be_forged_by_names(fmt: str, tmp_path: Path, tree: Path) -> None:
    """A policy named with an escape, a pipe and HTML: shown literally in every format."""
    after = tmp_path / "after"
    document = policy("api")
    document["spec"]["endpointSelector"]["matchLabels"] = {
        "app": "api",
        "evil": "x",
    }
    document["metadata"]["labels"] = {"team": "a"}
    document["spec"]["description"] = f"{ANSI}| </details> <script>alert(1)</script> ```"
    write_policy(after / "shop" / "api.yaml", document)
    run = run_cli("diff", "--format", fmt, str(tree), str(after))
    assert_well_behaved(run, codes=(0,))
    assert "\x1b" not in run.output
    if fmt == "json":
        json.loads(run.stdout)
    if fmt == "markdown":
        # Inside a code fence GitHub shows text literally; outside, nothing may be raw HTML.
        prose = outside_fences(run.stdout)
        assert "<script>" not in prose
        assert prose.count("<details>") == prose.count("</details>")


def outside_fences(markdown: str) -> str:
    """The Markdown without its fenced code blocks (a fence closes only at its own length)."""
    kept: list[str] = []
    fence = ""
    for line in markdown.splitlines():
        stripped = line.lstrip()
        if fence:
            if stripped.startswith(fence) and not stripped.strip("`"):
                fence = ""
            continue
        if stripped.startswith("```"):
            fence = stripped[: len(stripped) - len(stripped.lstrip("`"))]
            continue
        kept.append(line)
    return "\n".join(kept)


def test_explain_refuses_a_fifo_at_once(tmp_path: Path) -> None:
    import os  # noqa: PLC0415

    pipe = tmp_path / "p.yaml"
    os.mkfifo(pipe)
    run = run_cli("explain", str(pipe))
    assert_well_behaved(run, codes=(2,))
    assert "a FIFO, not a regular file" in run.stderr


def test_explain_shows_an_escape_in_a_name(ansi_tree: Path) -> None:
    run = run_cli("explain", str(ansi_tree / "evil.yaml"))
    assert_well_behaved(run, codes=(0,))
    assert "\x1b" not in run.output
    assert "\\x1b[2J" in run.stdout


# -- history ---------------------------------------------------------------------------------


def test_history_shows_a_commit_subject_and_author_as_text(tmp_path: Path) -> None:
    """Anyone can write a commit subject: an escape in it is shown, not run by the terminal."""
    repo = tmp_path / "fleet"
    repo.mkdir()
    git("init", "--quiet", "-b", "main", cwd=repo)
    write_policy(repo / "infrastructure/network-policies/shop/api.yaml", policy("api"))
    git("add", "-A", cwd=repo)
    git(
        "-c",
        f"user.name=Mallory{ANSI}",
        "-c",
        "user.email=m@example.com",
        "commit",
        "--quiet",
        "-m",
        f"innocent{ANSI} subject",
        cwd=repo,
    )
    run = run_cli("history", "--repo", str(repo), "shop/api")
    assert_well_behaved(run, codes=(0,))
    assert "\x1b" not in run.output
    assert "innocent\\x1b[2J\\x1b[31m subject" in run.stdout


@pytest.mark.parametrize("name", ["../../../etc/passwd.yaml", "shop/../../x", "a\nb/c"])
def test_history_refuses_names_that_leave_the_managed_folder(name: str, tmp_path: Path) -> None:
    """A name that is not namespace/name: a usage error (exit 2), no git run on it."""
    repo = tmp_path / "fleet"
    repo.mkdir()
    git("init", "--quiet", "-b", "main", cwd=repo)
    run = run_cli("history", "--repo", str(repo), name)
    assert_well_behaved(run, codes=(2,))
    assert "\x1b" not in run.output
