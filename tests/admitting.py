"""Test helpers: policies and desired states as a pass holds them (admitted ``Record`` s)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.desired.policy import DesiredPolicy, parse_policy
from reconciler.desired.record import Rejection
from reconciler.render.admission import Admission
from reconciler.render.manifest import Renderer
from reconciler.render.templates import Templates, load_templates

if TYPE_CHECKING:
    from collections.abc import Iterable

    from reconciler.desired.record import Record
    from reconciler.desired.state import DesiredState, Source


def admission(templates: Templates | None = None, **kw: Any) -> Admission:
    """An admission with ``templates`` (the shipped ones by default)."""
    return Admission(Renderer(templates or load_templates()), **kw)


def record(policy: DesiredPolicy | dict[str, Any], templates: Templates | None = None) -> Record:
    """One policy (a model or a raw entry) admitted; fails the test if it is rejected."""
    if not isinstance(policy, DesiredPolicy):
        parsed = parse_policy(policy, position="test")
        assert isinstance(parsed, DesiredPolicy), parsed
        policy = parsed
    admitted = admission(templates)(policy, None)
    assert not isinstance(admitted, Rejection), admitted
    return admitted


def records(
    policies: Iterable[DesiredPolicy | dict[str, Any]], templates: Templates | None = None
) -> list[Record]:
    """Each of ``policies`` admitted."""
    return [record(p, templates) for p in policies]


def read(source: Source, templates: Templates | None = None) -> DesiredState:
    """The desired state of ``source``, admitted with ``templates``."""
    return source.desired(admission(templates))


def planned_from(state: DesiredState | None) -> tuple[object, ...]:
    """What a pass planned from, without the bytes an entry skipped by the tree cache has not got.

    For comparing a fast pass with a full one: the same records, in order, and the same version
    and rejections.
    """
    assert state is not None
    kept = tuple((r.id, r.path, r.version, r.digest, r.header, r.input) for r in state.policies)
    return state.version, state.rejections, kept
