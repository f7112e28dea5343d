"""Configuration file and environment: where option values come from besides the command line.

Sits in front of the CLI. Every option has three sources, highest first: the command line, an
environment variable ``CILIUM_GITOPS_<OPTION>`` (``--control-plane`` ->
``CILIUM_GITOPS_CONTROL_PLANE``), and a YAML config file (``--config FILE`` or
``CILIUM_GITOPS_CONFIG``) whose keys are option names::

    control-plane: file:///etc/cilium-gitops/desired-state.yaml
    repo: ssh://git@git.example.com/platform/fleet.git
    branch: main
    region: eu-west-1
    ssh-key: /var/run/secrets/git/id_ed25519
    known-hosts: /var/run/secrets/git/known_hosts
    sign-ssh-key: /var/run/secrets/git-signing/id_ed25519

Secrets are never read from the config file itself: it names files (``git-token-file``,
``ssh-key``, ``sign-ssh-key``) or key ids (``sign-openpgp-key``) so the file can be committed
or shown without leaking anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

ENV_PREFIX = "CILIUM_GITOPS_"
# The managed folder in the repository, where Flux's Kustomization points. Kept here, with
# nothing heavy imported at the top, so the command line can build its options cheaply.
DEFAULT_PATH = "infrastructure/network-policies"
# The folder of the managed tree that holds clusterwide policies; namespaces have their own.
CLUSTER_FOLDER = "_cluster"
# Keys a config file may not hold: the value itself is a secret.
_SECRET_KEYS = frozenset({"git-token", "token", "password"})


def env_var(option: str) -> str:
    """The environment variable for an option name (``dry-run`` -> ``CILIUM_GITOPS_DRY_RUN``)."""
    return ENV_PREFIX + option.upper().replace("-", "_")


def load_config(path: Path, known: Iterable[str]) -> dict[str, object]:
    """Read a config file into ``{parameter_name: value}``; unknown keys are an error."""
    from reconciler.sources import load_document  # noqa: PLC0415 - see DEFAULT_PATH

    document = load_document(path)
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        msg = f"{path}: a config file is a mapping of option names to values"
        raise ConfigError(msg)
    allowed = {name.replace("_", "-") for name in known}
    values: dict[str, object] = {}
    for raw_key, value in document.items():
        key = str(raw_key).replace("_", "-")
        if key in _SECRET_KEYS:
            msg = f"{path}: {raw_key!r} would put a secret in the config file; use git-token-file"
            raise ConfigError(msg)
        if key not in allowed:
            msg = f"{path}: unknown option {raw_key!r}; known: {', '.join(sorted(allowed))}"
            raise ConfigError(msg)
        values[key.replace("-", "_")] = value
    return values
