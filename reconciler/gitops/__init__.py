"""The git edge: the only package that imports GitPython or runs git.

Used by ``reconcile`` and ``service`` (and wired up by ``commands``); it imports nothing of ours
but the exception tree. ``settings`` holds what the edge is told (remote, branches, identity,
signing) and runs nothing; ``credentials`` says how git authenticates without a secret in argv
or on disk; ``workspace`` owns the service's working directory (align with the remote, stage,
commit, sign, push; never a forced push to the watched branch); ``branches`` publishes a pass as
a pull-request branch with its description instead (the one ref that is ever replaced, under a
lease); ``trust`` refuses to build on a head nobody trusted signed; ``log`` reads a user's
checkout for the review commands.

Exports the names below; everything else is internal to its module.
"""

from reconciler.gitops.branches import RemoteBranch, notes_ref, publish, read_branch, withdraw
from reconciler.gitops.listing import list_tree, read_blob, settled_file, tree_cache_file
from reconciler.gitops.log import Change, changes_to, files_at
from reconciler.gitops.settings import (
    GitSettings,
    Identity,
    Signing,
    SigningFormat,
    default_workdir,
    push_branch_name,
)
from reconciler.gitops.trust import check_base
from reconciler.gitops.workspace import (
    REGION_TRAILER,
    VERSION_TRAILER,
    Touched,
    Workspace,
    init_bare,
)

__all__ = [
    "REGION_TRAILER",
    "VERSION_TRAILER",
    "Change",
    "GitSettings",
    "Identity",
    "RemoteBranch",
    "Signing",
    "SigningFormat",
    "Touched",
    "Workspace",
    "changes_to",
    "check_base",
    "default_workdir",
    "files_at",
    "init_bare",
    "list_tree",
    "notes_ref",
    "publish",
    "push_branch_name",
    "read_blob",
    "read_branch",
    "settled_file",
    "tree_cache_file",
    "withdraw",
]
