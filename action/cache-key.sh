#!/usr/bin/env bash
# The action's cache key: marketer's lockfile, sources and build scripts (a new action version is a new key),
# the runner's OS and architecture and the Node major. Prints key=… for $GITHUB_OUTPUT, and
# installed=true when this action folder already holds that build (a second marketer step).
set -euo pipefail
cd "${GITHUB_ACTION_PATH:?}"
lock=$(sha256sum package-lock.json | cut -c1-16)
sources=$(find src bin scripts tsconfig.json package.json -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
node_major=$(node -p 'process.versions.node.split(".")[0]')
key="marketer-${RUNNER_OS:-local}-${RUNNER_ARCH:-x64}-node${node_major}-${lock}-${sources}"
echo "key=${key}"
if [[ -d node_modules && -f dist/.build-key && "$(cat dist/.build-key)" == "$key" ]]; then echo "installed=true"; fi
