#!/bin/sh
# Prints where workers will clone the deployed code from (REELSCRIBE_GIT_URL if set, else this
# clone's `origin`, else its path), after checking that the commit being deployed (HEAD) is there:
# a worker's pull step runs `git fetch <that> <commit>`, so a commit the remote lacks would
# register fine and crash every run. Used by `make deploy` (before registering) and by the build
# step of deployments/prefect.yaml. Exits 1 with one line on stderr when workers could not fetch it.
set -eu
url=${REELSCRIBE_GIT_URL:-$(git remote get-url origin 2>/dev/null || git rev-parse --show-toplevel)}
commit=$(git rev-parse HEAD)
fail() {
    echo "reelscribe: error: $1; push it first (git push), or let workers clone this clone: REELSCRIBE_GIT_URL=\$(pwd) make deploy" >&2
    exit 1
}
refs=$(git ls-remote "$url" HEAD "refs/heads/*" "refs/tags/*" 2>/dev/null) || fail "cannot list the refs of $url, so workers could not fetch commit $commit from it"
for tip in $(printf '%s\n' "$refs" | cut -f1 | sort -u); do
    # A tip this clone does not have is not searched: fetching it would change the clone.
    if git merge-base --is-ancestor "$commit" "$tip" 2>/dev/null; then
        echo "$url"
        exit 0
    fi
done
fail "commit $commit is on no branch or tag of $url, so workers could not fetch it"
