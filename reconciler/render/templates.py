"""Loads the user-overridable text templates (file header, commit message) and checks them.

Sits beside ``manifest`` and ``reconcile.passes``: both take a loaded ``Templates`` value, never a
path. The defaults ship inside the package (``reconciler/_data/templates`` in a wheel) or, in a
source checkout, come from the top-level ``templates/`` folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template

from reconciler.errors import ConfigError

# reconciler/, where a wheel carries _data/; its parent is a source checkout's root.
_PACKAGE = Path(__file__).resolve().parents[1]
_HEADER_FIELDS = {"policy_id": "x", "kind": "x", "namespace": "x", "name": "x", "display": "x"}
_COMMIT_FIELDS = {
    "summary": "x",
    "changes": "x",
    "created": "0",
    "updated": "0",
    "deleted": "0",
    "version": "0",
    "region": "x",
}


def data_dir(name: str) -> Path:
    """Locate a folder shipped with the tool (``templates``, ``sample-repo``)."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    msg = f"the packaged {name!r} folder is missing; reinstall cilium-gitops"
    raise ConfigError(msg)


@dataclass(frozen=True, slots=True)
class Templates:
    """The two templates, parsed and checked."""

    header: Template
    commit_message: Template


def load_templates(directory: Path | None = None) -> Templates:
    """Load templates from ``directory``, falling back file by file to the shipped defaults."""
    defaults = data_dir("templates")
    header = _load("header.txt", directory, defaults, _HEADER_FIELDS)
    commit = _load("commit-message.txt", directory, defaults, _COMMIT_FIELDS)
    sample = header.substitute(_HEADER_FIELDS)
    if not sample.strip() or any(not line.startswith("#") for line in sample.splitlines()):
        msg = "header.txt: every line must be a YAML comment starting with '#'"
        raise ConfigError(msg)
    return Templates(header=header, commit_message=commit)


def _load(name: str, directory: Path | None, defaults: Path, fields: dict[str, str]) -> Template:
    path = directory / name if directory is not None and (directory / name).is_file() else None
    path = path or defaults / name
    try:
        template = Template(path.read_text(encoding="utf-8"))
        template.substitute(fields)
    except OSError as exc:
        msg = f"{path}: cannot read template: {exc.strerror}"
        raise ConfigError(msg) from exc
    except (KeyError, ValueError) as exc:
        msg = f"{path}: unknown or malformed placeholder {exc}; allowed: {', '.join(fields)}"
        raise ConfigError(msg) from exc
    return template
