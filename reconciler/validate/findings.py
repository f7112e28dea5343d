"""What a validation layer reports, and the catalogue of rules it may report.

Pure data at the centre of ``validate``: every layer yields ``Issue`` values (a rule id, a path
inside one policy document, a message); the runner places them in a file (line and column) as
``Finding``; the output formats print ``Finding`` and read ``RULES`` for names, rationales and
help. Rule ids are stable: CI configurations and SARIF code-scanning alerts refer to them, so an
id is never reused for a different check.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

Path = tuple[str | int, ...]  # keys and list indexes from the document's root


class Severity(enum.IntEnum):
    """Ordered, so ``--fail-on`` compares: a finding fails the run at or above the threshold."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        """The lowercase name used on the command line and in every output format."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Rule:
    """One check: a stable id, a short name, its severity, why it exists, how to fix it."""

    id: str
    name: str
    severity: Severity
    rationale: str  # one line: why this matters on a cluster
    hint: str  # one line: what to change


@dataclass(frozen=True, slots=True)
class Issue:
    """What a layer found in one document, before it is placed in a file."""

    rule: str  # a key of RULES
    path: Path  # the offending node; () is the whole document
    message: str
    hint: str | None = None  # overrides the rule's hint when the fix depends on the case
    detail: str = ""  # longer evidence, such as a diff


@dataclass(frozen=True, slots=True)
class Finding:
    """One reported problem, placed in a file; what every output format prints."""

    rule: str
    severity: Severity
    file: str  # as given on the command line, or relative to the scanned root
    line: int  # 1-based; 0 when the problem is about the file as a whole
    column: int  # 1-based; 0 when unknown
    policy: str | None  # namespace/name, or name for a clusterwide policy
    message: str
    hint: str
    path: str = ""  # the JSON path of the node, e.g. spec.ingress[0].toPorts
    detail: str = field(default="", compare=False)  # a diff, for a hand-edited file

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        """Files in order, then position, then rule: stable output for CI logs and diffs."""
        return (self.file, self.line, self.column, self.rule)


def format_path(path: Path) -> str:
    """``('spec', 'ingress', 0, 'toPorts')`` as ``spec.ingress[0].toPorts``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


RULES: dict[str, Rule] = {}


def rule(rule_id: str, name: str, severity: Severity, rationale: str, hint: str) -> str:
    """Register a rule at import time; returns the id so modules can name it as a constant."""
    if rule_id in RULES:
        msg = f"rule id {rule_id} registered twice"
        raise ValueError(msg)
    RULES[rule_id] = Rule(rule_id, name, severity, rationale, hint)
    return rule_id
