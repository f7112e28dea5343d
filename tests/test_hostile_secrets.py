"""Credentials in URLs, files and the environment reach the Git host and nothing else. Issue 15.

A real smart-HTTP remote that requires basic authentication stands for a Git host; each case
syncs (or fails) and then looks for the secret everywhere a user could find it: stdout and
stderr (text and JSON), every file of the workdir (``.git/config`` included), the commits, the
requests the host received (the URL and query string must not carry it; only the
``Authorization`` header may).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import DEFAULT_PATH, git, wait_for
from hostile_support import CLI, Run, assert_well_behaved, run_cli
from http_git import GitHttpServer
from test_hostile_state import hermetic_env, write_document

from reconciler.gitops import init_bare

if TYPE_CHECKING:
    from collections.abc import Iterator

TOKEN = "tok-3c8d0e51f27a"  # noqa: S105 - a test credential, looked for everywhere
POLICY = {
    "endpointSelector": {"matchLabels": {"app": "api"}},
    "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "web"}}]}],
}
DESIRED = [{"id": "shop-api", "namespace": "shop", "name": "api", "policy": POLICY}]


@pytest.fixture
def host(tmp_path: Path) -> Iterator[GitHttpServer]:
    root = tmp_path / "srv"
    root.mkdir()
    init_bare(root / "fleet.git", "main")
    server = GitHttpServer(root, user="bot", password=TOKEN)
    yield server
    server.close()


def files_holding(folder: Path, secret: str) -> list[str]:
    """Every file below ``folder`` whose bytes contain ``secret``."""
    found = []
    for current, _, names in os.walk(folder):
        for name in names:
            path = Path(current) / name
            if not path.is_symlink() and secret.encode() in path.read_bytes():
                found.append(str(path.relative_to(folder)))
    return found


def assert_nowhere(
    secret: str, run: Run, *folders: Path, server: GitHttpServer | None = None
) -> None:
    assert secret not in run.output
    for folder in folders:
        assert files_holding(folder, secret) == []
    if server is not None:
        leaked = [line for line in server.seen if secret in line and "Authorization" not in line]
        assert leaked == []


def sync(tmp_path: Path, repo: str, *more: str, env: dict[str, str] | None = None) -> Run:
    state = write_document(tmp_path / "desired.json", {"policies": DESIRED})
    args = ["sync", "--control-plane", f"file://{state}", "--workdir", str(tmp_path / "work")]
    if repo:
        args += ["--repo", repo]
    return run_cli(*args, *more, env={**hermetic_env(tmp_path / "home"), **(env or {})})


def committed(host: GitHttpServer) -> str:
    return git("log", "--format=%an %ae %B", "main", cwd=host.root / "fleet.git")


def test_a_token_in_the_url_goes_to_the_host_and_nowhere_else(
    host: GitHttpServer, tmp_path: Path
) -> None:
    """https://bot:TOKEN@host/...: the push is authenticated, and .git/config holds no token."""
    run = sync(tmp_path, host.url("fleet.git", f"bot:{TOKEN}"), "--output", "json")
    assert_well_behaved(run, codes=(0,))
    assert json.loads(run.stdout)["commit"]
    config = (tmp_path / "work" / ".git" / "config").read_text(encoding="utf-8")
    assert f"url = {host.url('fleet.git')}\n" in config
    assert_nowhere(TOKEN, run, tmp_path / "work", tmp_path / "home", server=host)
    assert TOKEN not in committed(host)
    assert any(line.startswith("Authorization: Basic ") for line in host.seen)


def test_a_token_as_the_user_name_works_too(tmp_path: Path) -> None:
    """https://TOKEN@host/... (GitHub's form): the token is the user name, the password empty."""
    root = tmp_path / "srv"
    root.mkdir()
    init_bare(root / "fleet.git", "main")
    server = GitHttpServer(root, user=TOKEN, password="")
    try:
        run = sync(tmp_path, server.url("fleet.git", TOKEN))
        assert_well_behaved(run, codes=(0,))
        assert_nowhere(TOKEN, run, tmp_path / "work", server=server)
    finally:
        server.close()


def test_a_token_file_and_a_user_in_the_url(host: GitHttpServer, tmp_path: Path) -> None:
    """--git-token-file with https://bot@host: the file's token, the URL's user."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    run = sync(tmp_path, host.url("fleet.git", "bot"), "--git-token-file", str(token_file))
    assert_well_behaved(run, codes=(0,))
    assert_nowhere(TOKEN, run, tmp_path / "work", server=host)


def test_a_wrong_token_fails_without_showing_either(host: GitHttpServer, tmp_path: Path) -> None:
    """The host answers 401: exit 1, and neither the given token nor the URL's appears."""
    wrong = "wrong-6b1f0c"
    run = sync(tmp_path, host.url("fleet.git", f"bot:{wrong}"))
    assert_well_behaved(run, codes=(1,))
    assert "error: git fetch failed" in run.stderr
    assert_nowhere(wrong, run, tmp_path / "work", server=host)


@pytest.mark.parametrize("where", ["config-file", "environment"])
def test_credentials_from_a_config_file_or_the_environment(
    where: str, host: GitHttpServer, tmp_path: Path
) -> None:
    """repo: in --config, or CILIUM_GITOPS_REPO: the same treatment as the command line."""
    url = host.url("fleet.git", f"bot:{TOKEN}")
    env: dict[str, str] = {}
    more: list[str] = []
    if where == "environment":
        env["CILIUM_GITOPS_REPO"] = url
    else:
        config = tmp_path / "config.yaml"
        config.write_text(f"repo: {url}\n", encoding="utf-8")
        state = write_document(tmp_path / "desired.json", {"policies": DESIRED})
        run = run_cli(
            "--config",
            str(config),
            "sync",
            "--control-plane",
            f"file://{state}",
            "--workdir",
            str(tmp_path / "work"),
            env=hermetic_env(tmp_path / "home"),
        )
        assert_well_behaved(run, codes=(0,))
        assert_nowhere(TOKEN, run, tmp_path / "work", server=host)
        return
    run = sync(tmp_path, "", *more, env=env)
    assert_well_behaved(run, codes=(0,))
    assert_nowhere(TOKEN, run, tmp_path / "work", server=host)


def test_a_workdir_made_with_a_token_in_its_url_is_cleaned(
    host: GitHttpServer, tmp_path: Path
) -> None:
    """An earlier version stored the token in .git/config: the next sync adopts the workdir
    and rewrites the URL without it."""
    url = host.url("fleet.git", f"bot:{TOKEN}")
    work = tmp_path / "work"
    work.mkdir()
    git("init", "--quiet", "-b", "main", cwd=work)
    git("remote", "add", "origin", url, cwd=work)
    legacy = hashlib.sha256(f"{url}\nmain".encode()).hexdigest()
    (work / ".git" / "cilium-gitops-workdir").write_text(legacy + "\n", encoding="utf-8")
    run = sync(tmp_path, url)
    assert_well_behaved(run, codes=(0,))
    assert_nowhere(TOKEN, run, work, server=host)


def test_the_service_logs_no_credential(host: GitHttpServer, tmp_path: Path) -> None:
    """run with a token in --repo: its log (start-up line included) and workdir hold none."""
    from reconciler.controlplane.server import ReferenceControlPlane, start  # noqa: PLC0415

    servicer = ReferenceControlPlane()
    servicer.load([{**DESIRED[0], "region": "eu-west-1"}])
    server = start(servicer)
    process = subprocess.Popen(
        [
            str(CLI),
            "-v",
            "run",
            "--control-plane",
            server.url,
            "--region",
            "eu-west-1",
            "--repo",
            host.url("fleet.git", f"bot:{TOKEN}"),
            "--workdir",
            str(tmp_path / "work"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **hermetic_env(tmp_path / "home")},
    )
    try:
        fleet = host.root / "fleet.git"
        wait_for(
            lambda: (
                git("for-each-ref", "refs/heads/main", cwd=fleet) != ""
                or process.poll() is not None
            ),
            timeout=30,
            what="the service's first push",
        )
        assert process.poll() is None, "the service stopped"
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
        server.stop()
    assert TOKEN not in out + err
    assert "running: grpc://" in err
    assert files_holding(tmp_path / "work", TOKEN) == []
    assert f"{DEFAULT_PATH}/shop/api.yaml" in git(
        "ls-tree", "-r", "--name-only", "main", cwd=host.root / "fleet.git"
    )


@pytest.mark.parametrize(
    ("option", "url", "says"),
    [
        ("--repo", f"ssh://git:{TOKEN}@127.0.0.1/fleet.git", "cannot carry a password"),
        ("--repo", f"git://bot:{TOKEN}@127.0.0.1/fleet.git", "cannot carry a password"),
        ("--control-plane", f"grpc://bot:{TOKEN}@127.0.0.1:1", "must not carry credentials"),
    ],
    ids=["ssh-password", "git-password", "control-plane-credentials"],
)
def test_credentials_where_nothing_would_send_them_are_refused_unshown(
    option: str, url: str, says: str, tmp_path: Path
) -> None:
    """Exit 2 with the reason; the URL is not repeated, since it holds the secret."""
    state = write_document(tmp_path / "desired.json", {"policies": DESIRED})
    args = {
        "--control-plane": f"file://{state}",
        "--repo": (tmp_path / "r.git").as_uri(),
        "--region": "eu-west-1",
    }
    args[option] = url
    flat = [part for pair in args.items() for part in pair]
    run = run_cli("sync", *flat, "--workdir", str(tmp_path / "work"), env=hermetic_env(tmp_path))
    assert_well_behaved(run, codes=(2,))
    assert says in run.stderr
    assert TOKEN not in run.output
