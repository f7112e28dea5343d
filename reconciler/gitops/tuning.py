"""How the workdir's repository is set up, for a pass over 100,000 files.

Sits beside ``workspace``, which applies it whenever it opens or creates a workdir. Only this
repository, which cilium-gitops owns alone, is set so; never the user's or the remote's.
"""

from __future__ import annotations

import configparser
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import git

# What the workdir's repository is set to. Every git command of a pass reads the index (and
# most write it): at 100,000 files it is 12 MB, hashed on every read and write. Version 4
# compresses its paths (7 MB), and a split index writes only what changed since the shared part
# (a few KB), whose old copies go at once (nothing else uses this repository).
_SETTINGS = (
    ("core", "autocrlf", "false"),
    ("gc", "auto", "0"),
    ("index", "version", "4"),
    ("core", "splitIndex", "true"),
    ("splitIndex", "sharedIndexExpire", "now"),
)


def configure(repo: git.Repo) -> None:
    """Set the workdir's repository as ``_SETTINGS`` says (written only when it differs)."""
    wanted = [value for _, _, value in _SETTINGS]
    try:
        with repo.config_reader("repository") as reader:
            # GitPython reads "true" back as True and "4" as 4.
            current = [str(reader.get_value(s, k, default="")).lower() for s, k, _ in _SETTINGS]
        if current != wanted:
            with repo.config_writer() as config:
                for section, key, value in _SETTINGS:
                    config.set_value(section, key, value)
    except configparser.Error:
        pass  # damaged: the pass's first git command says so, and the workdir is cloned again
