"""Writing a plan: nothing lands outside the managed root, whatever the paths say."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pytest

from reconciler.errors import UnsafePathError
from reconciler.reconcile.apply import apply_plan
from reconciler.reconcile.plan import Action, Change, Plan

if TYPE_CHECKING:
    from pathlib import Path


def create(path: str, content: bytes = b"kind: X\n") -> Change:
    return Change(Action.CREATE, path, "p", "missing", content)


def everything_under(path: Path) -> list[str]:
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*"))


@pytest.mark.parametrize(
    "bad", ["../escape.yaml", "/etc/passwd", "shop/../../x.yaml", "", "a//b.yaml", "./a.yaml"]
)
def test_hostile_paths_are_refused_before_anything_is_written(tmp_path: Path, bad: str) -> None:
    root = tmp_path / "root"
    plan = Plan(changes=(create("shop/fine.yaml"), create(bad)))
    with pytest.raises(UnsafePathError, match="refusing path"):
        apply_plan(root, plan)
    assert everything_under(tmp_path) == ["root"]


def test_symlinked_folder_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    root.mkdir()
    (root / "shop").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="shop is a symlink"):
        apply_plan(root, Plan(changes=(create("payments/a.yaml"), create("shop/a.yaml"))))
    assert list(outside.iterdir()) == []
    assert not (root / "payments").exists()


def test_symlink_at_the_file_is_replaced_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "shop").mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("keep me\n")
    (root / "shop" / "a.yaml").symlink_to(secret)
    # A planted link at the temporary name must not be written through either.
    digest = hashlib.sha256(b"a.yaml").hexdigest()[:16]
    (root / "shop" / f".{digest}.cilium-gitops-tmp").symlink_to(secret)
    apply_plan(root, Plan(changes=(Change(Action.UPDATE, "shop/a.yaml", "p", "x", b"new\n"),)))
    assert secret.read_text() == "keep me\n"
    assert not (root / "shop" / "a.yaml").is_symlink()
    assert (root / "shop" / "a.yaml").read_bytes() == b"new\n"
    assert everything_under(root) == ["shop", "shop/a.yaml"]


def test_deleting_the_last_file_removes_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "root"
    apply_plan(root, Plan(changes=(create("shop/a.yaml"),), kustomization_writes={"shop": b"k\n"}))
    assert everything_under(root) == ["shop", "shop/a.yaml", "shop/kustomization.yaml"]
    apply_plan(
        root,
        Plan(
            changes=(Change(Action.DELETE, "shop/a.yaml", "p", "orphaned"),),
            kustomization_removals=("shop",),
        ),
    )
    assert everything_under(root) == []
