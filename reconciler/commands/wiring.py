"""The shared options of ``sync`` and ``run``, turned into the settings the packages take.

Sits between the command modules and the packages they drive: the git edge's ``GitSettings``
(remote, identity, signing, pull-request branch), a pass's ``PassOptions``, the control plane's
TLS files and tokens. Each value is checked as it is built; a bad one ends the command with
exit code 2 through ``options.guard``. The pass's modules (pydantic, GitPython) are imported
only by the commands that run a pass: ``validate`` in CI starts once per job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.commands.options import (
    CONTROL_PLANE_TOKEN_ENV,
    EXIT_USAGE,
    TOKEN_ENV,
    fail,
    guard,
    read_token,
)
from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from reconciler.controlplane.endpoint import Access
    from reconciler.desired.limits import Limits
    from reconciler.gitops import GitSettings, Identity, Signing
    from reconciler.reconcile.passes import PassOptions


@dataclass(frozen=True, slots=True)
class PassSetup:
    """Everything a pass command needs besides the desired state."""

    settings: GitSettings
    options: PassOptions
    workdir: Path
    control_plane_token: str | None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value an error message must never show."""
        token = self.control_plane_token
        return (*self.settings.secrets, token) if token else self.settings.secrets


def control_plane_token(kw: dict[str, Any]) -> str | None:
    """The control plane's bearer token, from ``--token-file`` or the environment."""
    return read_token(kw["token_file"], "token-file", CONTROL_PLANE_TOKEN_ENV)


def limits(kw: dict[str, Any]) -> Limits:
    """The input limits the options set."""
    from reconciler.desired.limits import Limits  # noqa: PLC0415 - see the docstring

    return Limits(
        state_bytes=kw["max_state_bytes"],
        policy_bytes=kw["max_policy_bytes"],
        policies=kw["max_policies"],
        message_bytes=kw["max_message_bytes"],
    )


def access(kw: dict[str, Any], token: str | None) -> Access:
    """How to reach the control plane: ``token``, the TLS files, how long to wait on it."""
    from reconciler.controlplane.endpoint import (  # noqa: PLC0415 - see the docstring
        Access,
        Deadlines,
        TlsFiles,
    )

    return Access(
        token=token,
        tls=TlsFiles(ca=kw["ca_file"], cert=kw["client_cert"], key=kw["client_key"]),
        deadlines=Deadlines(
            call=kw["control_plane_timeout"], keepalive=kw["control_plane_keepalive"]
        ),
    )


def pass_setup(kw: dict[str, Any]) -> PassSetup:
    """The git edge's settings, the pass's options, the workdir and the control plane's token."""
    from reconciler.gitops import (  # noqa: PLC0415 - see the docstring
        GitSettings,
        default_workdir,
        push_branch_name,
    )
    from reconciler.reconcile.passes import Backoff, PassOptions  # noqa: PLC0415

    token = read_token(kw["git_token_file"], "git-token-file", TOKEN_ENV)
    cp_token = control_plane_token(kw)
    settings = guard(
        lambda: GitSettings(
            url=kw["repo"],
            branch=kw["branch"],
            author=guard(lambda: identity(kw["author"], "--author")),
            committer=guard(lambda: identity(kw["committer"], "--committer"))
            if kw["committer"]
            else None,
            token=token,
            ssh_key=kw["ssh_key"],
            known_hosts=kw["known_hosts"],
            signing=_signing(kw),
            verify_base=kw["verify_base"],
            allowed_signers=kw["allowed_signers"],
            stall_seconds=kw["git_timeout"],
            push_branch=guard(
                lambda: push_branch_name(
                    kw["push_branch"], region=kw["region"], branch=kw["branch"]
                )
            )
            if kw["push_branch"]
            else None,
        )
    )
    if kw["known_hosts"] is not None and kw["ssh_key"] is None:
        fail(EXIT_USAGE, "--known-hosts needs --ssh-key")
    options = PassOptions(
        path=kw["path"],
        region=kw["region"],
        dry_run=kw["dry_run"],
        backoff=Backoff(attempts=kw["push_attempts"]),
        limits=limits(kw),
        max_delete_share=kw["max_delete_share"],
        allow_mass_delete=kw["allow_mass_delete"],
    )
    # Keyed by the URL without credentials: a rotated token keeps its clone.
    workdir = kw["workdir"] or default_workdir(settings.url, kw["branch"])
    return PassSetup(settings, options, workdir, cp_token)


def _signing(kw: dict[str, Any]) -> Signing | None:
    """The commit-signing key, from at most one of the two signing options."""
    from reconciler.gitops import Signing  # noqa: PLC0415 - see the docstring

    ssh_key, openpgp_key = kw["sign_ssh_key"], kw["sign_openpgp_key"]
    if ssh_key is not None and openpgp_key:
        fail(EXIT_USAGE, "--sign-ssh-key and --sign-openpgp-key exclude each other; pick one")
    if ssh_key is not None:
        return guard(lambda: Signing("ssh", str(ssh_key)))
    if openpgp_key:
        return guard(lambda: Signing("openpgp", str(openpgp_key)))
    return None


def identity(value: str, option_name: str) -> Identity:
    """``Name <email>`` as a git identity; anything else is a configuration error."""
    from reconciler.gitops import Identity  # noqa: PLC0415 - see the docstring

    name, sep, rest = value.partition("<")
    email = rest.removesuffix(">").strip()
    if not sep or not name.strip() or not email or not rest.endswith(">"):
        msg = f"{option_name} must look like 'Name <email>', got {value!r}"
        raise ConfigError(msg)
    return Identity(name.strip(), email)
