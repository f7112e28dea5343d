#!/bin/sh
# Reads the pull-request title and body that cilium-gitops pushed with a proposal branch.
#
#   pull-request-description.sh BRANCH REVISION OUT_DIR
#
# cilium-gitops (--push-branch) pushes each proposal commit together with a git note in
# refs/notes/cilium-gitops/BRANCH: the title, a blank line, then the Markdown body. This
# fetches that ref and writes OUT_DIR/title.txt and OUT_DIR/body.md. It exits 3, writing
# nothing, when REVISION carries no note: the branch has moved on since this run started (a
# newer push has its own run) or was not pushed by cilium-gitops.
set -eu
if [ "$#" -ne 3 ]; then
    echo "usage: $0 BRANCH REVISION OUT_DIR" >&2
    exit 2
fi
branch=$1
out=$3
# Resolved first: the fetch below rewrites FETCH_HEAD, which REVISION may name.
revision=$(git rev-parse --verify --quiet "$2^{commit}") || { echo "no commit $2" >&2; exit 2; }
ref="refs/notes/cilium-gitops/$branch"
git check-ref-format "$ref" || { echo "not a branch name: $branch" >&2; exit 2; }
if ! git fetch --quiet --no-tags origin "+$ref:$ref"; then
    echo "no description for $branch: $ref is not on the remote" >&2
    exit 3
fi
note=$(mktemp)
trap 'rm -f "$note"' EXIT
if ! git notes --ref "$ref" show "$revision" >"$note" 2>/dev/null; then
    echo "no description for $revision: $branch has moved on" >&2
    exit 3
fi
mkdir -p "$out"
head -n 1 "$note" >"$out/title.txt"
tail -n +3 "$note" >"$out/body.md"
