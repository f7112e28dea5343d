"""What the git edge is told: the remote, the branches, who commits, and how commits are signed.

Plain values, read by ``workspace`` and built by the CLI; nothing here runs git, so the
command line can build them without importing GitPython.
"""

from __future__ import annotations

import hashlib
import os
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from reconciler.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Identity:
    """A git author or committer."""

    name: str
    email: str


SigningFormat = Literal["ssh", "openpgp"]


@dataclass(frozen=True, slots=True)
class Signing:
    """How to sign commits.

    ``key`` is, for ``ssh``, the path of the private key file, or of its ``.pub`` when
    ssh-agent holds the private key; for ``openpgp``, a key id or fingerprint in gpg's keyring
    (``gnupg_home``, else gpg's default). ``program`` replaces ``ssh-keygen`` or ``gpg``.

    There is no passphrase: a service has no terminal to ask on, and a passphrase in argv or
    the environment would leak. The key must be unencrypted, or unlocked in ssh-agent or
    gpg-agent beforehand.
    """

    format: SigningFormat
    key: str
    program: Path | None = None
    gnupg_home: Path | None = None

    def __post_init__(self) -> None:
        """Refuse settings git would only reject at the first commit."""
        if self.format not in ("ssh", "openpgp"):
            msg = f"signing format must be 'ssh' or 'openpgp', got {self.format!r}"
            raise ConfigError(msg)
        if not self.key.strip():
            msg = f"a {self.format} signing key is required"
            raise ConfigError(msg)
        if self.gnupg_home is not None and self.format != "openpgp":
            msg = "gnupg_home applies to OpenPGP signing only"
            raise ConfigError(msg)

    @property
    def key_path(self) -> Path:
        """The ssh key as an absolute path: git runs in the workdir, not in our cwd."""
        return Path(self.key).expanduser().absolute()

    def describe(self) -> str:
        """Names the key for messages: its path or id, never its content."""
        if self.format == "ssh":
            return f"ssh key {self.key_path}"
        return f"OpenPGP key {self.key}"

    def git_config(self) -> list[tuple[str, str]]:
        """The ``-c`` settings that make ``git commit -S`` sign with this key."""
        # An absolute path also keeps git from reading the value as a literal key: it treats
        # a user.signingKey starting with "ssh-" or "key::" as the public key itself.
        key = str(self.key_path) if self.format == "ssh" else self.key
        config = [("gpg.format", self.format), ("user.signingKey", key)]
        if self.program is not None:
            config.append((f"gpg.{self.format}.program", str(self.program)))
        return config


@dataclass(frozen=True, slots=True)
class GitSettings:
    """How to reach the remote and who commits."""

    url: str
    branch: str = "main"
    author: Identity = Identity("cilium-gitops", "cilium-gitops@localhost")
    committer: Identity | None = None
    token: str | None = field(default=None, repr=False)
    # The HTTPS user name for the token (the credential helper's default: x-access-token).
    username: str | None = field(default=None, repr=False)
    ssh_key: Path | None = None
    known_hosts: Path | None = None
    signing: Signing | None = None
    # Pull-request mode: commits go to this branch, rebuilt on ``branch`` every pass.
    push_branch: str | None = None
    # Refuse to commit on a head of ``branch`` that has no trusted signature: Flux's
    # ``spec.verify`` checks HEAD only, so our signed commit would vouch for what lies below.
    verify_base: bool = False
    # git's ``gpg.ssh.allowedSignersFile`` for SSH signatures; OpenPGP ones use gpg's keyring.
    allowed_signers: Path | None = None
    # Seconds a fetch or push may go without any progress before it is cut (--git-timeout).
    stall_seconds: float = 60.0
    # Set when the URL's user-info was a token alone (https://TOKEN@host).
    _user_is_secret: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Take credentials out of the URL; refuse contradictory or half-set settings."""
        clean, user, password = split_userinfo(self.url)
        if user is not None:
            object.__setattr__(self, "url", clean)
            object.__setattr__(self, "username", user)
            if self.token is None:
                # https://user:TOKEN@host, or https://TOKEN@host (the token as the user name,
                # the password empty): either way the user-info is the credential.
                object.__setattr__(self, "token", password)
                object.__setattr__(self, "_user_is_secret", not password)
            elif password:
                msg = "--repo carries a password and a token is also given; keep one of them"
                raise ConfigError(msg)
        if self.push_branch is not None and self.push_branch.strip() in {"", self.branch}:
            msg = (
                f"--push-branch must name a branch other than the one Flux watches "
                f"({self.branch!r}): only the pull-request branch is ever force-pushed"
            )
            raise ConfigError(msg)
        if self.allowed_signers is not None and not self.verify_base:
            msg = "--allowed-signers is read only with --verify-base"
            raise ConfigError(msg)
        if self.verify_base and self.signing is None:
            # Our own commits become the next pass's base: unsigned, they would stall it.
            msg = "--verify-base needs --sign-ssh-key or --sign-openpgp-key"
            raise ConfigError(msg)

    def identity_environment(self) -> dict[str, str]:
        """The variables that make git commit as the author and committer."""
        committer = self.committer or self.author
        return {
            "GIT_AUTHOR_NAME": self.author.name,
            "GIT_AUTHOR_EMAIL": self.author.email,
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
        }

    def signing_options(self) -> tuple[list[tuple[str, str]], list[str]]:
        """The ``-c`` settings and ``commit`` flags for signing; a missing ssh key fails here."""
        signing = self.signing
        if signing is None:
            return [], []
        # Checked here, not only by the CLI: a long-running service outlives a mounted secret.
        if signing.format == "ssh" and not signing.key_path.is_file():
            msg = f"cannot sign commits: {signing.describe()} is not a readable file"
            raise ConfigError(msg)
        return signing.git_config(), ["--gpg-sign"]

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values to scrub from any text that leaves this module."""
        found = [self.token] if self.token else []
        if self._user_is_secret and self.username:
            found.append(self.username)
        return tuple(found)


_HTTP = frozenset({"http", "https"})


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without credentials, and the user name and password it carried.

    Only HTTP(S) URLs give up their user-info: it is what git would otherwise store in
    ``.git/config`` and print in errors. ``https://TOKEN@host`` (GitHub's form, a token as the
    user name) gives the token as user name and an empty password. An ``ssh://user@host`` keeps
    its user: that is a login name, not a secret, and ssh needs it. A password in any other URL
    is refused: nothing there would ever send it.
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if parts.scheme in _HTTP:
        clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
        return clean, unquote(user), unquote(password) if colon else ""
    if colon:
        # The URL itself is never repeated: it holds the password.
        msg = (
            f"--repo: a {parts.scheme or 'git'} URL cannot carry a password; use --ssh-key for "
            "ssh://, or an https:// URL with --git-token-file"
        )
        raise ConfigError(msg)
    return url, None, None


def push_branch_name(template: str, *, region: str | None, branch: str) -> str:
    """``--push-branch`` with ``{region}`` and ``{branch}`` (the watched branch) filled in."""
    values = {"region": region, "branch": branch}
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        msg = f"--push-branch {template!r}: {exc}"
        raise ConfigError(msg) from None
    for name in fields:
        if name not in values:
            msg = f"--push-branch {template!r}: unknown {{{name}}}; use {{region}} or {{branch}}"
            raise ConfigError(msg)
        if values[name] is None:
            msg = f"--push-branch {template!r} needs --{name}"
            raise ConfigError(msg)
    name = template.format_map(values)
    if not _is_branch_name(name):
        msg = f"--push-branch {template!r} gives {name!r}, which is not a valid branch name"
        raise ConfigError(msg)
    return name


def _is_branch_name(name: str) -> bool:
    """The rules of ``git check-ref-format`` for a branch name."""
    forbidden = (" ", "~", "^", ":", "?", "*", "[", "\\", "..", "@{", "//")
    return (
        bool(name)
        and name.isprintable()
        and not any(part in name for part in forbidden)
        and not name.startswith(("-", "/"))
        and not name.endswith(("/", ".", ".lock"))
        and not any(p.startswith(".") or p.endswith(".lock") for p in name.split("/"))
        and name != "@"
    )


def default_workdir(url: str, branch: str) -> Path:
    """A per-remote cache folder, so repeated syncs reuse their clone."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.sha256(f"{url}\n{branch}".encode()).hexdigest()[:16]
    return base / "cilium-gitops" / key
