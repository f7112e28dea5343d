"""How git authenticates: the environment and per-command settings, never argv or disk.

Sits under ``workspace``, which runs every git command of the service with what this module
gives. An HTTPS token (from ``--git-token-file``, or the user-info of a URL such as
``https://bot:TOKEN@host/fleet.git``, the usual CI form, which ``settings`` takes apart before
anything sees it) is handed to git by a credential helper
that reads it from the child's environment, so it is in no argv, no ``.git/config`` and no
error; an SSH key and the pinned ``known_hosts`` go in ``GIT_SSH_COMMAND``; prompts are switched
off, so a refused credential fails the command instead of waiting on a terminal.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.gitops.settings import GitSettings

# git reads the token from this variable in the credential helper below, never from argv.
_TOKEN_ENV = "CILIUM_GITOPS_GIT_TOKEN_FOR_HELPER"  # noqa: S105 - the name of a variable, not a secret
_USERNAME_ENV = "CILIUM_GITOPS_GIT_USERNAME"
_CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || exit 0; '
    f'echo "username=${{{_USERNAME_ENV}:-x-access-token}}"; '
    f'echo "password=${{{_TOKEN_ENV}}}"; }}; f'
)


def environment(settings: GitSettings) -> dict[str, str]:
    """The variables every git command of the workspace runs with (over the process's own)."""
    # C locale: push failures are told apart by git's English words (``refusals``).
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "LC_ALL": "C",
        "LANGUAGE": "C",
    }
    if settings.token is not None:
        env[_TOKEN_ENV] = settings.token
    if settings.username is not None:
        env[_USERNAME_ENV] = settings.username
    # BatchMode: ssh asks for passwords and host-key confirmations on /dev/tty, not through
    # SSH_ASKPASS; without it, a command run from a terminal whose key the server refused
    # waited on a password prompt forever (tests/test_ssh_transport.py). ServerAlive: a
    # connection whose server stopped answering is dropped after the stall time.
    alive = max(1, int(settings.stall_seconds // 4))
    command = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={alive * 2}"]
    command += ["-o", f"ServerAliveInterval={alive}", "-o", "ServerAliveCountMax=4"]
    if settings.ssh_key is not None:
        command += ["-i", str(settings.ssh_key), "-o", "IdentitiesOnly=yes"]
        if settings.known_hosts is not None:
            command += [
                "-o",
                f"UserKnownHostsFile={settings.known_hosts}",
                "-o",
                "StrictHostKeyChecking=yes",
            ]
    env["GIT_SSH_COMMAND"] = shlex.join(command)
    signing = settings.signing
    if signing is not None and signing.gnupg_home is not None:
        # gpg has no option git would pass through; it reads its home from here.
        env["GNUPGHOME"] = str(signing.gnupg_home)
    return env


def remote_options(settings: GitSettings) -> list[str]:
    """The ``-c`` options of a command that talks to the remote.

    HTTP's own stall limit, and the credential helper when there is a token.
    """
    # libcurl drops a transfer slower than 1 byte/s for this long (http.lowSpeedLimit/Time).
    stall = str(max(1, int(settings.stall_seconds)))
    options = ["-c", "http.lowSpeedLimit=1", "-c", f"http.lowSpeedTime={stall}"]
    if settings.token is None:
        return options
    # The empty helper first: it clears any helper of the user's or the system's config.
    return [*options, "-c", "credential.helper=", "-c", f"credential.helper={_CREDENTIAL_HELPER}"]
