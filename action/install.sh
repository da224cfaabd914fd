#!/usr/bin/env bash
# The action's install step. With the actions/cache copy restored (every run after the first for
# an action version) there is nothing to do; otherwise npm ci (which also builds dist/), then the
# development packages are dropped so the cached copy holds only what runs.
set -euo pipefail
cd "${GITHUB_ACTION_PATH:?}"
key="${MARKETER_BUILD_KEY:?}"
if [[ -d node_modules && -f dist/.build-key && "$(cat dist/.build-key)" == "$key" ]]; then
  echo "marketer: dependencies and build restored from the cache"
  exit 0
fi
npm ci --no-audit --no-fund
npm prune --omit=dev --no-audit --no-fund
echo "$key" > dist/.build-key
