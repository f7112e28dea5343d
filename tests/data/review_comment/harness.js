// Runs sample-repo/.github/scripts/upsert-comment.js against a fake GitHub API, for
// tests/test_review_comment.py. The fake is the one mock of these tests: GitHub's API cannot be
// had for real in a test.
//
//   node harness.js SCRIPT < {"comments": [...], "body": "...", "marker": "..."}
//
// Prints {"calls": [...], "result": ..., "warnings": [...]} or {"error": "..."}. The fake serves
// listComments page by page (per_page, page), as the REST API does, and its paginate follows
// pages until a short one, as Octokit's does by the Link header.
const fs = require("fs");

const [script] = process.argv.slice(2);
const scenario = JSON.parse(fs.readFileSync(0, "utf8"));
const calls = [];
const warnings = [];

const issues = {
  listComments: async ({ per_page = 30, page = 1, ...params }) => {
    calls.push({ method: "listComments", page, per_page, ...params });
    return { data: scenario.comments.slice((page - 1) * per_page, page * per_page) };
  },
  createComment: async (params) => {
    calls.push({ method: "createComment", ...params });
    return { data: { id: 9999, html_url: "https://github.test/c/9999" } };
  },
  updateComment: async (params) => {
    calls.push({ method: "updateComment", ...params });
    return { data: { id: params.comment_id } };
  },
};
const github = {
  rest: { issues },
  paginate: async (method, params) => {
    const all = [];
    for (let page = 1; ; page += 1) {
      const { data } = await method({ ...params, page });
      all.push(...data);
      if (data.length < (params.per_page ?? 30)) return all;
    }
  },
};
const context = { issue: { owner: "fleet", repo: "gitops", number: 42 } };
const core = { info: () => {}, warning: (message) => warnings.push(message) };

require(script)({ github, context, core, body: scenario.body, marker: scenario.marker })
  .then((result) => console.log(JSON.stringify({ calls, result, warnings })))
  .catch((error) => console.log(JSON.stringify({ error: String(error.message) })));
