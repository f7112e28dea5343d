"""The review as one pull-request comment: the cut, the Validation section, the workflow.

``truncate`` keeps the comment within GitHub's limit; ``diff --validation`` adds a validate
report; sample-repo/.github's workflow runs both and posts the comment with a script that
updates it on the next push instead of posting another.

The script runs under the real node with a fake GitHub API (tests/data/review_comment/
harness.js); these tests are skipped where node is not installed.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import string
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import DEFAULT_PATH, ROOT, git
from hypothesis import example, given
from hypothesis import strategies as st
from ruamel.yaml import YAML
from test_cli import run
from test_review_diff import WEB, cnp, dump

from reconciler.commands.cli import cli
from reconciler.review.markdown import GITHUB_COMMENT_LIMIT, MARKER, MIN_LIMIT, truncate
from reconciler.review.validation_summary import MAX_FINDINGS, section

GITHUB = ROOT / "sample-repo" / ".github"
WORKFLOW = GITHUB / "workflows" / "review-policies.yml"
SCRIPT = GITHUB / "scripts" / "upsert-comment.js"
HARNESS = Path(__file__).parent / "data" / "review_comment" / "harness.js"
NODE = shutil.which("node")
BOT = "github-actions[bot]"

NOTE = re.compile(
    r"\*✂️ Cut short for GitHub: the last [\d,]+ of [\d,]+ lines \([\d,]+ characters\) are left "
    r"out\. `cilium-gitops diff` prints the whole report\.\*"
)


# -- truncate ----------------------------------------------------------------------------------

# A second reading of CommonMark's fences, written apart from the one under test.
OPENING = re.compile(r" {0,3}(?P<run>`{3,}|~{3,})(?P<info>.*)")


def open_blocks(lines: list[str]) -> tuple[str | None, int]:
    """The fence still open after ``lines`` (its run), and how many <details> are open."""
    fence: str | None = None
    details = 0
    for line in lines:
        found = OPENING.fullmatch(line)
        if fence is not None:
            if (
                found
                and found["run"][0] == fence[0]
                and len(found["run"]) >= len(fence)
                and found["info"].strip(" \t") == ""
            ):
                fence = None
        elif found and not (found["run"][0] == "`" and "`" in found["info"]):
            fence = found["run"]
        elif line.lstrip().startswith("<details"):
            details += 1
        elif line.lstrip().startswith("</details>") and details:
            details -= 1
    return fence, details


def closing_length(lines: list[str]) -> int:
    fence, details = open_blocks(lines)
    return (len(fence) + 1 if fence else 0) + details * len("\n</details>")


LINES = st.one_of(
    st.sampled_from(
        [
            "```",
            "```mermaid",
            "````diff",
            "````",
            "~~~",
            "   ```",
            "``` `not a fence`",
            "<details><summary>x</summary>",
            "</details>",
            "",
            "| a | b |",
            "🟢 added",
        ]
    ),
    st.text(st.characters(exclude_characters="\n", codec="utf-8"), max_size=120),
)


@st.composite
def texts_and_limits(draw: st.DrawFn) -> tuple[list[str], int]:
    """Lines, and a limit that mostly falls inside them (a cut) and sometimes after (none)."""
    lines = draw(st.lists(LINES, min_size=40, max_size=400))
    size = len("\n".join(lines))
    return lines, draw(st.integers(MIN_LIMIT, max(MIN_LIMIT, size + 50)))


@given(texts_and_limits())
@example((["x" * 300, "y"], MIN_LIMIT))  # the first line alone is too long: only the note
@example((["```mermaid", *(["  a --> b"] * 100)], MIN_LIMIT))
def test_truncate_keeps_whole_lines_closes_blocks_and_fits(case: tuple[list[str], int]) -> None:
    lines, limit = case
    text = "\n".join(lines)
    cut = truncate(text, limit)
    if len(text) <= limit:
        assert cut == text
        return
    assert len(cut) <= limit
    *body, note = cut.split("\n")
    assert NOTE.fullmatch(note), note
    if body:
        assert body[-1] == ""  # a blank line: the note never joins a table or a paragraph
        body.pop()
    kept = 0
    while kept < len(body) and kept < len(lines) - 1 and body[kept] == lines[kept]:
        kept += 1
    fence, details = open_blocks(lines[:kept])
    assert body[kept:] == ([fence] if fence else []) + ["</details>"] * details
    assert open_blocks([*body, "", note]) == (None, 0)  # the note is text, outside any fold
    # The most lines that fit: one more, closed, with a note no longer than this one, does not.
    more = lines[: kept + 1]
    assert len("\n".join(more)) + closing_length(more) + 2 + len(note) > limit


def test_truncate_cuts_inside_a_fence_and_a_fold() -> None:
    """The cut falls in a diff fence inside <details>: both are closed before the note."""
    head = [MARKER, "<details><summary>big</summary>", "", "````diff"]
    text = "\n".join([*head, *(f"+ {i}" for i in range(500))])
    assert truncate(text, 300) == "\n".join(
        [
            *head,
            *(f"+ {i}" for i in range(18)),
            "````",
            "</details>",
            "",
            (
                "*✂️ Cut short for GitHub: the last 482 of 504 lines (2,810 characters) are left "
                "out. `cilium-gitops diff` prints the whole report.*"
            ),
        ]
    )


def test_truncate_leaves_short_text_alone_and_refuses_a_tiny_limit() -> None:
    text = "x" * GITHUB_COMMENT_LIMIT
    assert truncate(text) is text
    assert len(truncate(text + "\ny")) <= GITHUB_COMMENT_LIMIT
    with pytest.raises(ValueError, match="too short for the note"):
        truncate("short", MIN_LIMIT - 1)


# -- the diff command --------------------------------------------------------------------------


def write_policies(folder: Path, count: int, port: str = "80") -> Path:
    """``count`` policies in namespace shop, each letting app=web reach its own app on ``port``."""
    for i in range(count):
        ports = [{"ports": [{"port": port, "protocol": "TCP"}]}]
        spec = {
            "endpointSelector": {"matchLabels": {"app": f"api-{i}"}},
            "ingress": [{"fromEndpoints": [WEB], "toPorts": ports}],
        }
        (folder / "shop").mkdir(parents=True, exist_ok=True)
        (folder / "shop" / f"api-{i}.yaml").write_bytes(dump(cnp(f"api-{i}", spec)))
    return folder


def test_diff_cuts_a_large_markdown_comment_to_max_length(tmp_path: Path) -> None:
    before = write_policies(tmp_path / "before", 80, port="80")
    after = write_policies(tmp_path / "after", 80, port="8080")
    whole = run("diff", str(before), str(after), "--format", "markdown", "--max-length", "0")
    assert whole.exit_code == 0, whole.output
    assert len(whole.output) > 20_000  # large enough that the cut leaves most of it out
    out = tmp_path / "review.md"
    result = run(
        "diff",
        str(before),
        str(after),
        "--format",
        "markdown",
        "--max-length",
        "2000",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    comment = out.read_text(encoding="utf-8")
    assert len(comment) <= 2000
    assert comment.startswith(MARKER + "\n")
    assert NOTE.fullmatch(comment.rstrip("\n").rsplit("\n", 1)[1])
    kept = comment.rsplit("\n\n", 1)[0].split("\n")
    while kept[-1].startswith(("```", "</details>")):  # what the cut closed
        kept.pop()
    assert whole.output.startswith("\n".join(kept) + "\n")
    default = run("diff", str(before), str(after), "--format", "markdown")
    assert default.output == whole.output  # under 65,536 characters: untouched
    text = run("diff", str(before), str(after), "--max-length", "2000")
    assert len(text.output) > 2000  # the text format is never cut
    tiny = run("diff", str(before), str(after), "--format", "markdown", "--max-length", "150")
    assert tiny.exit_code == 2
    assert "--max-length" in tiny.output


def test_diff_puts_a_real_validate_report_in_the_comment(tmp_path: Path) -> None:
    before = write_policies(tmp_path / "before", 1)
    after = write_policies(tmp_path / "after", 1, port="99999")  # out of range: an error
    report = tmp_path / "validate.json"
    validated = run("validate", str(after), "--format", "json", "-o", str(report))
    assert validated.exit_code == 1, validated.output
    (finding,) = json.loads(report.read_text(encoding="utf-8"))["findings"]
    result = run(
        "diff", str(before), str(after), "--format", "markdown", "--validation", str(report)
    )
    assert result.exit_code == 0, result.output
    comment = result.output
    assert "#### Validation" in comment
    assert "❌ 1 error, 0 warnings, 0 infos in 1 file (1 policy)." in comment
    row = next(line for line in comment.splitlines() if finding["rule"] in line)
    assert f"`{after / 'shop' / 'api-0.yaml'}:{finding['line']}`" in row
    assert "99999" in row
    # After the summary, before the flows.
    assert comment.index("flows: ") < comment.index("#### Validation") < comment.index("```mermaid")
    unchanged = run(
        "diff", str(after), str(after), "--format", "markdown", "--validation", str(report)
    )
    # No policy changed, and the section still shows: the report is about the files as they are.
    assert "changed.\n\n#### Validation\n\n❌ 1 error, 0 warnings" in unchanged.output
    assert unchanged.output.endswith(f"{row}\n")


def test_diff_refuses_a_validation_file_that_is_no_report(tmp_path: Path) -> None:
    folder = write_policies(tmp_path / "same", 1)
    for content in ("not json", "[]", '{"version": 1, "summary": {}, "findings": [1]}'):
        bad = tmp_path / "bad.json"
        bad.write_text(content, encoding="utf-8")
        args = ["diff", str(folder), str(folder), "--format", "markdown", "--validation", str(bad)]
        result = run(*args)
        assert result.exit_code == 2
        assert "Invalid value for --validation" in result.output


def finding(i: int, severity: str) -> dict[str, Any]:
    return {
        "rule": f"CG{i:03}",
        "severity": severity,
        "file": f"shop/p{i}.yaml",
        "line": i,
        "policy": f"shop/p{i}",
        "message": "a|b `c`",
    }


def test_validation_section_lists_errors_first_and_says_what_it_left_out() -> None:
    findings = [finding(i, "warning") for i in range(30)] + [finding(99, "error")]
    summary = {"files": 31, "policies": 31, "errors": 1, "warnings": 30, "infos": 0}
    lines = section({"version": 1, "summary": summary, "findings": findings})
    rows = [line for line in lines if line.startswith("| ")]
    assert len(rows) == 1 + MAX_FINDINGS  # the header and the first findings
    assert rows[1] == "| ❌ error | `shop/p99.yaml:99` | `CG099` | `` shop/p99: a\\|b `c` `` |"
    assert lines[-1].startswith(f"The first {MAX_FINDINGS} of 31 findings, errors first;")
    clean = section({"version": 1, "summary": {"files": 2, "policies": 1}, "findings": []})
    assert clean == ["#### Validation", "", "✅ No findings in 2 files (1 policy)."]


# -- the workflow ------------------------------------------------------------------------------


POLICY_TEST = """\
apiVersion: cilium-gitops/v1alpha1
kind: PolicyTest
metadata: {name: api}
spec:
  endpoints:
    web: {namespace: shop, labels: {app: web}}
    api: {namespace: shop, labels: {app: api-0}}
  flows:
    - {from: web, to: api, port: 80, expect: allow}
"""


def workflow() -> Any:
    return YAML(typ="safe").load(WORKFLOW.read_text(encoding="utf-8"))


def steps() -> list[dict[str, Any]]:
    (job,) = workflow()["jobs"].values()
    return list(job["steps"])


def test_workflow_runs_on_pull_requests_with_the_least_permissions() -> None:
    document = workflow()
    assert set(document["on"]) == {"pull_request"}  # never pull_request_target
    assert document["on"]["pull_request"]["paths"] == [
        f"{DEFAULT_PATH}/**",
        "infrastructure/cilium-gitops/**",
        "apps/**",
        "tests/network-policies/**",
    ]
    assert document["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "github.event.pull_request.number" in document["concurrency"]["group"]
    assert "secrets." not in WORKFLOW.read_text(encoding="utf-8")
    checkout = next(s for s in steps() if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0


def test_workflow_posts_through_the_script_with_our_marker() -> None:
    (post,) = [s for s in steps() if s.get("uses") == "actions/github-script@v7"]
    script = post["with"]["script"]
    assert "/.github/scripts/upsert-comment.js`)" in script
    assert f'marker: "{MARKER}"' in script
    assert SCRIPT.is_file()
    validate = next(s for s in steps() if s.get("id") == "validate")
    assert validate["continue-on-error"] is True  # the comment is posted before the job fails
    tests = next(s for s in steps() if s.get("id") == "policy-tests")
    assert tests["continue-on-error"] is True
    assert steps()[-1]["if"] == (
        "steps.validate.outcome == 'failure' || steps.policy-tests.outcome == 'failure'"
    )


def commands() -> list[tuple[list[str], dict[str, str]]]:
    """Each ``cilium-gitops`` command of the workflow, split, with its step's environment."""
    found = []
    for step in steps():
        for line in str(step.get("run", "")).splitlines():
            if line.startswith("cilium-gitops "):
                env = {
                    k: re.sub(r"\$\{\{.*?\}\}", "main", v) for k, v in step.get("env", {}).items()
                }
                found.append((shlex.split(line)[1:], env))
    return found


def test_workflow_commands_run_as_written_on_a_pull_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The validate, test and diff lines, run in order in a clone where a change breaks a policy."""
    clone = tmp_path / "clone"
    managed = clone / DEFAULT_PATH
    write_policies(managed, 2)
    # The service's own deployment and network policy, which the workflow checks too.
    service = Path("infrastructure", "cilium-gitops")
    shutil.copytree(ROOT / "sample-repo" / service, clone / service)
    git("init", "-q", "-b", "main", str(clone), cwd=tmp_path)
    git("add", "-A", cwd=clone)
    git("commit", "-q", "-m", "base", cwd=clone)
    tests = clone / "tests" / "network-policies"
    tests.mkdir(parents=True)
    (tests / "api.yaml").write_text(POLICY_TEST, encoding="utf-8")
    git("add", "-A", cwd=clone)
    git("commit", "-q", "-m", "tests", cwd=clone)
    git("checkout", "-q", "-b", "change", cwd=clone)
    write_policies(managed, 3, port="99999")  # two ports changed, one policy added
    git("add", "-A", cwd=clone)
    git("commit", "-q", "-m", "the pull request", cwd=clone)
    # As actions/checkout leaves a pull_request run: on GitHub's merge commit into the base.
    git("checkout", "-q", "main", cwd=clone)
    git("merge", "-q", "--no-ff", "-m", "Merge the pull request", "change", cwd=clone)
    monkeypatch.chdir(clone)

    ran = []
    for args, env in commands():
        line = [string.Template(arg).substitute(env) for arg in args]
        result = CliRunner().invoke(cli, line, catch_exceptions=False)
        ran.append((line[0], result.exit_code))
    # The change's port 99999 makes api-0's rule one Cilium rejects: the test cannot pass.
    assert ran == [("validate", 1), ("test", 1), ("diff", 0)]
    comment = (clone / "review.md").read_text(encoding="utf-8")
    assert comment.startswith(MARKER + "\n")
    assert "#### Validation" in comment
    assert f"`{DEFAULT_PATH}/shop/api-2.yaml:" in comment
    assert "3 policies changed (1 created, 2 updated, 0 deleted)" in comment


# -- the script that posts the comment ---------------------------------------------------------

needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


def upsert(comments: list[dict[str, Any]], body: str) -> dict[str, Any]:
    """Run upsert-comment.js on a fake pull request holding ``comments``; what it called."""
    assert NODE is not None
    scenario = json.dumps({"comments": comments, "body": body, "marker": MARKER})
    result = subprocess.run(
        [NODE, str(HARNESS), str(SCRIPT)],
        input=scenario,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
        timeout=60,
    )
    outcome: dict[str, Any] = json.loads(result.stdout)
    return outcome


def comment(number: int, login: str, body: str) -> dict[str, Any]:
    return {"id": number, "user": {"login": login}, "body": body, "html_url": f"#{number}"}


def writes(outcome: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (call["method"], call.get("comment_id", call.get("issue_number")))
        for call in outcome["calls"]
        if call["method"] != "listComments"
    ]


BODY = f"{MARKER}\n### Cilium network policy review\n\nnew"


@needs_node
def test_script_creates_the_comment_when_there_is_none() -> None:
    outcome = upsert([], BODY)
    assert writes(outcome) == [("createComment", 42)]
    (created,) = [c for c in outcome["calls"] if c["method"] == "createComment"]
    assert (created["owner"], created["repo"], created["body"]) == ("fleet", "gitops", BODY)
    assert outcome["result"] == 9999


@needs_node
def test_script_updates_its_own_comment_on_the_second_page() -> None:
    others = [comment(n, "someone", f"looks good {n}") for n in range(1, 151)]
    others[3] = comment(4, BOT, "another workflow's comment")  # ours, but not the review
    others[129] = comment(130, BOT, f"{MARKER}\nthe old review")
    outcome = upsert(others, BODY)
    assert writes(outcome) == [("updateComment", 130)]
    (updated,) = [c for c in outcome["calls"] if c["method"] == "updateComment"]
    assert updated["body"] == BODY
    pages = [c["page"] for c in outcome["calls"] if c["method"] == "listComments"]
    assert pages == [1, 2]


@needs_node
def test_script_never_edits_a_marker_comment_by_someone_else() -> None:
    outcome = upsert([comment(7, "mallory", f"{MARKER}\nfake review")], BODY)
    assert writes(outcome) == [("createComment", 42)]


@needs_node
def test_script_cuts_a_body_over_the_limit_in_characters() -> None:
    for filler in ("x", "🟢"):  # one UTF-16 unit, and two: GitHub counts characters
        body = f"{MARKER}\n" + filler * GITHUB_COMMENT_LIMIT
        outcome = upsert([], body)
        (created,) = [c for c in outcome["calls"] if c["method"] == "createComment"]
        assert created["body"] == body[:GITHUB_COMMENT_LIMIT]
        assert len(outcome["warnings"]) == 1
    exact = f"{MARKER}\n" + "🟢" * (GITHUB_COMMENT_LIMIT - len(MARKER) - 1)
    (created,) = [c for c in upsert([], exact)["calls"] if c["method"] == "createComment"]
    assert created["body"] == exact  # at the limit: untouched


@needs_node
def test_script_refuses_a_body_without_the_marker() -> None:
    outcome = upsert([], "### no marker")
    assert outcome == {"error": f"the comment body does not start with {MARKER}"}
