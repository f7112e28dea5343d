"""Reviewing policy changes: the connectivity diff and ``explain``, pure.

The flow, one module per step: ``peers`` names selectors, peers, ports and L7 conditions;
``flows`` reads a policy into rules, clauses and ``Flow`` values; ``inputs`` loads two sides'
files into policies keyed by (kind, namespace, name); ``fields`` diffs documents leaf by leaf;
``compare`` puts it together into a ``Review`` and ``risks`` flags what needs a careful look;
``explain`` says what one policy does in sentences; ``output`` and ``markdown`` print a review
as text, JSON or a pull-request comment, ``reachability_section`` adds the end-to-end verdicts
the change flips ("What can now reach what", from ``verdicts.reachability``), and
``validation_summary`` adds a ``validate`` report's summary to the comment. Nothing here reads
files, runs git or talks to a network: the commands hand over file contents (``load`` finds the
policies in them, which is what ``explain FILE|NAME`` needs before ``explain``).

Uses ``validate.documents`` to read policies and ``verdicts`` for end-to-end verdicts; used by
``reconcile`` (pull-request mode) and ``commands``. Exports the names below.
"""

from reconciler.review.compare import PolicyChange, Review, compare
from reconciler.review.explain import explain
from reconciler.review.fields import FieldChange
from reconciler.review.flows import Flow, FlowChange, PolicyRef, flows_of
from reconciler.review.inputs import Policy, ReviewInputError, load
from reconciler.review.output import FORMATS, render
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
