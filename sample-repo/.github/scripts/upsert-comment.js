// Post the policy review on a pull request as one comment, updated on every push.
//
// Called by .github/workflows/review-policies.yml through actions/github-script, which passes
// its authenticated Octokit (`github`), the event (`context`) and @actions/core (`core`). The
// comment is found again by the hidden marker its body starts with, among the comments the
// workflow's own token wrote (github-actions[bot]): a comment by anyone else that happens to
// start with the marker is never edited.

// GitHub refuses a comment body over 65,536 characters. `cilium-gitops diff` already cuts the
// report to fit, with a note; this is the safety net for a body that did not come from it.
const LIMIT = 65536;
const BOT = "github-actions[bot]";

module.exports = async ({ github, context, core, body, marker }) => {
  if (!body.startsWith(marker)) {
    // Without the marker the next run could not find this comment and would post another.
    throw new Error(`the comment body does not start with ${marker}`);
  }
  // Counted in code points, as GitHub counts characters; String.length and slice() count
  // UTF-16 units, which would cut a report full of emoji short and could split a pair.
  const chars = Array.from(body);
  if (chars.length > LIMIT) {
    core.warning(`the review has ${chars.length} characters; posting the first ${LIMIT}`);
    body = chars.slice(0, LIMIT).join("");
  }
  const { owner, repo, number: issue_number } = context.issue;
  // Every page: on a busy pull request our comment may be past the first hundred.
  const comments = await github.paginate(github.rest.issues.listComments, {
    owner,
    repo,
    issue_number,
    per_page: 100,
  });
  const ours = comments.find(
    (comment) => comment.user?.login === BOT && (comment.body ?? "").startsWith(marker),
  );
  if (ours) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: ours.id, body });
    core.info(`updated ${ours.html_url}`);
    return ours.id;
  }
  const { data } = await github.rest.issues.createComment({ owner, repo, issue_number, body });
  core.info(`created ${data.html_url}`);
  return data.id;
};
