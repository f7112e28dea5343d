"""The bounds on every input, and the check a parsed document passes before anything uses it.

Sits at the trust boundary, under every reader of untrusted data: the desired-state file, the
control plane's messages, the files ``validate`` and ``diff`` read. ``Limits`` holds the bounds
a user may raise (each is an option of the commands); ``check_document`` walks a parsed YAML or
JSON value once, with a budget, so that nothing downstream (pydantic, the renderer, a schema
check) ever walks a structure that explodes when its aliases are followed.

Why these numbers:

* a rendered policy over 1.5 MiB is refused: etcd's default ``--max-request-bytes`` is 1.5 MiB,
  and the API server refuses a larger object, which would fail Flux's apply of the whole
  Kustomization, every other policy in it included;
* YAML aliases are allowed as far as Kubernetes' own YAML reader allows them: go-yaml
  (``gopkg.in/yaml.v3``, ``decode.go``: ``allowedAliasRatio``; sigs.k8s.io/yaml's fork of v2
  has the same check) refuses a document once more than 100 nodes came from aliases and they
  are more than a share of all nodes decoded: 99% up to 400,000 nodes, falling to 10% at
  4,000,000. A billion-laughs document is refused after a few thousand nodes, not at 1.5 GiB;
* nesting deeper than 64 levels is refused: the deepest CiliumNetworkPolicy path is about 15
  levels below the file's root, and Python's own parsers recurse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterator

MiB = 1024 * 1024
# etcd's default --max-request-bytes; the API server stores nothing larger.
KUBERNETES_OBJECT_BYTES = 1536 * 1024
MAX_DEPTH = 64
_ALIAS_FLOOR = 100  # go-yaml: aliasCount > 100 before the ratio applies
_RATIO_LOW, _RATIO_HIGH = 400_000, 4_000_000


@dataclass(frozen=True, slots=True)
class Limits:
    """What one pass accepts; every field is an option of ``sync``, ``render`` and ``run``."""

    # --max-state-bytes: a desired-state file larger than this is not read at all.
    state_bytes: int = 256 * MiB
    # --max-policy-bytes: a policy whose rendered file is larger is rejected by id.
    policy_bytes: int = KUBERNETES_OBJECT_BYTES
    # --max-policies: a desired state with more entries is refused whole (nothing is deleted).
    policies: int = 250_000
    # --max-message-bytes: the largest gRPC message read from the control plane. Far above the
    # policy limit, so an oversized policy arrives and is rejected by its id instead of
    # breaking the stream for every policy after it.
    message_bytes: int = 64 * MiB


class InputLimitError(ConfigError):
    """An input is over one of the limits: nothing of it is used."""


def allowed_alias_ratio(decoded: int) -> float:
    """The share of decoded nodes that may come from aliases (go-yaml's ``allowedAliasRatio``)."""
    if decoded <= _RATIO_LOW:
        return 0.99
    if decoded >= _RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _RATIO_LOW) / (_RATIO_HIGH - _RATIO_LOW)


def check_document(value: object, *, where: str, max_depth: int = MAX_DEPTH) -> None:
    """Refuse a ``value`` whose shared parts (YAML aliases) explode, or that nests too deep.

    Raises ``InputLimitError`` naming ``where`` and the limit.

    A container reached a second time is an alias: the loaders give the very same object for
    every ``*alias`` of an ``&anchor``. The walk counts every node as go-yaml's decoder would,
    and stops as soon as the count breaks the rule, so a billion-laughs costs milliseconds.
    """
    decoded = aliased = 0
    seen: set[int] = set()
    stack: list[tuple[object, int, bool]] = [(value, 1, False)]
    while stack:
        node, depth, in_alias = stack.pop()
        decoded += 1
        if in_alias:
            aliased += 1
            if (
                aliased > _ALIAS_FLOOR
                and decoded > 1000  # noqa: PLR2004 - go-yaml's floor
                and aliased / decoded > allowed_alias_ratio(decoded)
            ):
                msg = (
                    f"{where}: excessive aliasing: {aliased} of the first {decoded} nodes come "
                    "from YAML aliases (Kubernetes' YAML reader refuses the same)"
                )
                raise InputLimitError(msg)
        if not isinstance(node, dict | list):
            continue
        if depth > max_depth:
            msg = f"{where}: nested more than {max_depth} levels deep"
            raise InputLimitError(msg)
        again = in_alias or id(node) in seen
        seen.add(id(node))
        stack.extend((child, depth + 1, again) for child in _children(node))


def _children(node: dict[object, object] | list[object]) -> Iterator[object]:
    if isinstance(node, dict):
        for key, item in node.items():
            yield key
            yield item
    else:
        yield from node
