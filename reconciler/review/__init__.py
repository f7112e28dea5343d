"""Reviewing policy changes: the connectivity diff and ``explain`` (issue 5), pure.

The flow, one module per step: ``peers`` names selectors, peers, ports and L7 conditions;
``flows`` reads a policy into rules, clauses and ``Flow`` values; ``inputs`` loads two sides'
files into policies keyed by (kind, namespace, name); ``fields`` diffs documents leaf by leaf;
``diff.compare`` puts it together into a ``Review`` and ``risks`` flags what needs a careful
look; ``explain`` says what one policy does in sentences; ``formats`` and ``markdown`` print a
review as text, JSON or a pull-request comment. Nothing here reads files, runs git or talks to
a network: the CLI hands over file contents (``load`` finds the policies in them, which is
what ``explain FILE|NAME`` needs before ``explain``).
"""

from reconciler.review.diff import PolicyChange, Review, compare
from reconciler.review.explain import explain
from reconciler.review.fields import FieldChange
from reconciler.review.flows import Flow, FlowChange, PolicyRef, flows_of
from reconciler.review.formats import FORMATS, render
from reconciler.review.inputs import Policy, ReviewInputError, load
from reconciler.review.risks import Risk

__all__ = [
    "FORMATS",
    "FieldChange",
    "Flow",
    "FlowChange",
    "Policy",
    "PolicyChange",
    "PolicyRef",
    "Review",
    "ReviewInputError",
    "Risk",
    "compare",
    "explain",
    "flows_of",
    "load",
    "render",
]
