"""Hostile repository contents: what someone committed to the managed folder cannot make a sync
write outside it, forge its commit message, or produce a kustomization Flux misreads. Issue 15.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import yaml as pyyaml
from conftest import DEFAULT_PATH, git
from hostile_support import assert_well_behaved, committed_paths, run_cli
from test_hostile_state import hermetic_env, write_document

from reconciler.gitops import init_bare

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from hostile_support import Run

POLICY = {
    "endpointSelector": {"matchLabels": {"app": "api"}},
    "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "web"}}]}],
}
DESIRED = [
    {"id": "shop-api", "namespace": "shop", "name": "api", "policy": POLICY},
    {"id": "pay-api", "namespace": "payments", "name": "api", "policy": POLICY},
]


class Repo:
    """A remote seeded by ``seed`` (a function writing into a clone's managed folder)."""

    def __init__(self, base: Path, seed: Callable[[Path, Path], None]) -> None:
        self.base = base
        self.outside = base / "outside"
        self.outside.mkdir()
        self.remote = base / "remote.git"
        init_bare(self.remote, "main")
        clone = base / "seed"
        git("clone", "--quiet", self.remote.as_uri(), str(clone), cwd=base)
        managed = clone / DEFAULT_PATH
        managed.mkdir(parents=True)
        (clone / "README.md").write_text("fleet\n", encoding="utf-8")
        seed(managed, self.outside)
        git("add", "-A", cwd=clone)
        git("commit", "--quiet", "-m", "seed", cwd=clone)
        git("push", "--quiet", "origin", "HEAD:main", cwd=clone)
        self.seeded = git("rev-parse", "main", cwd=self.remote).strip()

    def sync(self, *more: str) -> Run:
        state = write_document(self.base / "desired.yaml", {"version": 5, "policies": DESIRED})
        return run_cli(
            "sync",
            "--control-plane",
            f"file://{state}",
            "--repo",
            self.remote.as_uri(),
            "--workdir",
            str(self.base / "work"),
            *more,
            env=hermetic_env(self.base / "home"),
        )

    def show(self, path: str) -> str:
        return git("show", f"main:{DEFAULT_PATH}/{path}", cwd=self.remote)

    def new_paths(self) -> list[str]:
        """Paths the sync's commit touched."""
        out = git("diff", "--name-only", "-z", self.seeded, "main", cwd=self.remote)
        return [p for p in out.split("\0") if p]

    def trailers(self) -> list[str]:
        message = git("log", "-1", "--format=%B", "main", cwd=self.remote)
        return [line for line in message.splitlines() if line.startswith("Control-Plane-")]


def write(folder: Path, name: str, text: str = "kind: ConfigMap\n") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def resources(text: str) -> list[str]:
    """A kustomization's resources as YAML 1.1 (kustomize's reader) reads them."""
    return list(pyyaml.safe_load(text)["resources"])


def test_a_file_name_with_yaml_in_it_is_listed_as_one_name(tmp_path: Path) -> None:
    """'x\\n- other.yaml' and 'a: b.yaml' are listed as themselves, never as YAML."""

    def seed(managed: Path, _: Path) -> None:
        write(managed / "shop", "x\n- other.yaml")
        write(managed / "shop", "other.yaml")
        write(managed / "shop", "a: b.yaml")
        write(managed / "shop", "#comment.yaml")

    repo = Repo(tmp_path, seed)
    run = repo.sync()
    assert_well_behaved(run, codes=(0,))
    assert resources(repo.show("shop/kustomization.yaml")) == [
        "#comment.yaml",
        "a: b.yaml",
        "api.yaml",
        "other.yaml",
        "x\n- other.yaml",
    ]


def test_folder_names_yaml_would_misread_are_quoted(tmp_path: Path) -> None:
    """A namespace folder '2024-01-01' or 'on' is not read as a date or a boolean."""

    def seed(managed: Path, _: Path) -> None:
        for folder in ("2024-01-01", "on", "1e3", "null"):
            write(managed / folder, "cm.yaml")

    repo = Repo(tmp_path, seed)
    assert_well_behaved(repo.sync(), codes=(0,))
    listed = resources(repo.show("kustomization.yaml"))
    assert {"2024-01-01", "on", "1e3", "null"} <= set(listed)
    assert all(isinstance(name, str) for name in listed)


def test_a_folder_name_cannot_forge_a_trailer(tmp_path: Path) -> None:
    """A folder 'x\\nControl-Plane-Version: 999' in the tree: the commit's trailers are ours."""

    def seed(managed: Path, _: Path) -> None:
        write(managed / "x\nControl-Plane-Version: 999", "cm.yaml")

    repo = Repo(tmp_path, seed)
    run = repo.sync()
    assert_well_behaved(run, codes=(0,))
    assert repo.trailers() == ["Control-Plane-Version: 5"]
    assert all(path.startswith(f"{DEFAULT_PATH}/") for path in repo.new_paths())


def test_a_managed_root_that_links_outside_is_refused(tmp_path: Path) -> None:
    """The managed folder is a symlink out of the repository: nothing is written anywhere."""

    def seed(managed: Path, outside: Path) -> None:
        managed.rmdir()
        managed.symlink_to(outside)

    repo = Repo(tmp_path, seed)
    run = repo.sync()
    assert_well_behaved(run, codes=(1,))
    assert "symlink" in run.stderr
    assert list(repo.outside.iterdir()) == []
    assert git("rev-parse", "main", cwd=repo.remote).strip() == repo.seeded


def test_a_namespace_folder_that_links_outside_holds_only_its_policies(tmp_path: Path) -> None:
    """'shop' links out: its policy is rejected, payments' is committed, nothing lands outside."""

    def seed(managed: Path, outside: Path) -> None:
        (managed / "shop").symlink_to(outside)

    repo = Repo(tmp_path, seed)
    run = repo.sync()
    assert_well_behaved(run, codes=(3,))
    assert "rejected: shop-api: name: shop is a symlink in the managed tree" in run.stderr
    assert list(repo.outside.iterdir()) == []
    assert f"{DEFAULT_PATH}/payments/api.yaml" in committed_paths(repo.remote)


def test_a_policy_file_that_links_outside_is_not_written_through(tmp_path: Path) -> None:
    """shop/api.yaml is a link to a file outside: refused for that policy; the target is intact."""

    def seed(managed: Path, outside: Path) -> None:
        target = outside / "passwd"
        target.write_text("root:x:0:0\n", encoding="utf-8")
        (managed / "shop").mkdir()
        (managed / "shop" / "api.yaml").symlink_to(target)

    repo = Repo(tmp_path, seed)
    run = repo.sync()
    assert_well_behaved(run, codes=(3,))
    assert "rejected: shop-api: name:" in run.stderr
    assert (repo.outside / "passwd").read_text(encoding="utf-8") == "root:x:0:0\n"


def test_a_hand_written_kustomization_is_not_overwritten(tmp_path: Path) -> None:
    """A person's kustomization.yaml in a folder we would regenerate: refused, exit 1, kept."""

    def seed(managed: Path, _: Path) -> None:
        write(managed / "shop", "kustomization.yaml", "resources:\n- other.yaml\n")

    repo = Repo(tmp_path, seed)
    run = repo.sync()
    assert_well_behaved(run, codes=(1,))
    assert "written by hand; refusing to overwrite it" in run.stderr
    assert repo.show("shop/kustomization.yaml") == "resources:\n- other.yaml\n"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("latin1.yaml", b"kind: ConfigMap\n# caf\xe9\n"),
        ("binary.yaml", bytes(range(256))),
        (
            "forged-id.yaml",
            (
                b"metadata:\n  labels:\n    app.kubernetes.io/managed-by: cilium-gitops\n"
                b'  annotations:\n    cilium-gitops.io/policy-id: "a\\nrejected: x"\n'
            ),
        ),
        ("big.yaml", b"# " + b"x" * (20 * 1024 * 1024) + b"\n"),
    ],
    ids=["not-utf-8", "binary", "forged-policy-id", "twenty-mib"],
)
def test_odd_files_in_the_tree_are_scanned_without_harm(
    name: str, content: bytes, tmp_path: Path
) -> None:
    """Files that are not UTF-8, not YAML, huge, or that claim our marker with a hostile id."""

    def seed(managed: Path, _: Path) -> None:
        (managed / "shop").mkdir()
        (managed / "shop" / name).write_bytes(content)

    repo = Repo(tmp_path, seed)
    # A file that claims our marker is ours to delete: the only managed file, all of them, which
    # the deletion guard would rightly stop (exit 4).
    run = repo.sync("--allow-mass-delete")
    assert_well_behaved(run, codes=(0,))
    assert "\x1b" not in run.output
    assert all(line == line.strip("\r") for line in run.stdout.splitlines())
    assert repo.trailers() == ["Control-Plane-Version: 5"]
    assert f"{DEFAULT_PATH}/shop/api.yaml" in committed_paths(repo.remote)
