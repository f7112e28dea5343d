"""The package's layout: one-way imports, unique module names, small modules, docstrings.

A newcomer reads the package from ``ls``; these checks keep that true as code is added.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "reconciler"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
# "About 450 lines" (issue 14): a module that outgrows this is doing two jobs.
MAX_LINES = 450


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "gen" not in p.relative_to(PACKAGE).parts)


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_import_contracts_are_kept() -> None:
    """Every import-linter contract in pyproject.toml holds: no upward import, one git user."""
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    """The contracts are not vacuous: desired importing commands is reported as broken."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(PACKAGE, tmp_path / "reconciler", ignore=shutil.ignore_patterns("__pycache__"))
    names = tmp_path / "reconciler" / "desired" / "names.py"
    names.write_text(names.read_text() + "\nimport reconciler.commands.cli  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "reconciler.desired.names -> reconciler.commands.cli" in result.stdout


def test_no_two_modules_share_a_name() -> None:
    """``history.py`` and ``gitops/history.py`` read as one thing; names must say which."""
    names = Counter(p.stem for p in _modules() if p.stem not in {"__init__", "__main__"})
    assert [name for name, count in names.items() if count > 1] == []


def test_no_module_is_over_the_size_limit() -> None:
    """Modules stay small enough to read in one sitting."""
    sizes = {
        p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
        for p in _modules()
    }
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}


def test_every_module_says_where_it_sits() -> None:
    """Each module and package opens with a docstring (its place in the flow)."""
    missing = [
        p.relative_to(ROOT).as_posix()
        for p in _modules()
        if p.name != "__main__.py" and not ast.get_docstring(ast.parse(p.read_text("utf-8")))
    ]
    assert missing == []


def test_top_level_holds_packages_and_the_floor_only() -> None:
    """``ls reconciler/`` shows the packages, and beside them only the floor modules."""
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "closing.py", "errors.py"]
