#!/usr/bin/env bash
# Run every bench in turn and keep their output with the machine they ran on:
#   bash bench/run-all.sh [--quick]
# writes bench/.data/results/<UTC time>.txt. --quick runs smaller sizes (a smoke run, not figures
# to publish). Run it on a machine doing nothing else: the load average is printed before and
# after each bench so a busy moment shows.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=${1:-}
out_dir=bench/.data/results
mkdir -p "$out_dir"
out="$out_dir/$(date -u +%Y%m%dT%H%M%SZ).txt"
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo) RAM"
  echo "node: $(node --version)"
} | tee "$out"

run() {
  local name=$1
  shift
  {
    echo
    echo "=== $name: $*"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  } | tee -a "$out"
  local t0=$SECONDS
  "$@" 2>&1 | tee -a "$out"
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); $((SECONDS - t0)) s" | tee -a "$out"
}

tsx=(node --import tsx)
if [ "$quick" = --quick ]; then
  run startup "${tsx[@]}" bench/startup.ts --runs 3
  run compile "${tsx[@]}" bench/compile.ts --rounds 1 --campaigns 5
  run render "${tsx[@]}" bench/render.ts 2000 2
  run import "${tsx[@]}" bench/import.ts --rows 20000 --rounds 1
  run send "${tsx[@]}" bench/send.ts --rows 2000 --rounds 1 --stub
  run enqueue "${tsx[@]}" bench/enqueue.ts --rows 20000 --rounds 1
  run events "${tsx[@]}" bench/events.ts --events 20000 --rounds 1
  run audience "${tsx[@]}" bench/audience.ts --rows 20000 --rounds 1
else
  run startup "${tsx[@]}" bench/startup.ts --runs 15
  run compile "${tsx[@]}" bench/compile.ts --rounds 5
  run render "${tsx[@]}" bench/render.ts 20000 20
  run import "${tsx[@]}" bench/import.ts --rows 1000000 --rounds 3
  run send "${tsx[@]}" bench/send.ts --rows 10000 --rounds 3 --stub
  run enqueue "${tsx[@]}" bench/enqueue.ts --rows 1000000 --rounds 3
  run events "${tsx[@]}" bench/events.ts --events 300000 --rounds 3
  run audience "${tsx[@]}" bench/audience.ts --rows 1000000 --rounds 5
  run stats "${tsx[@]}" bench/stats.ts --runs 15
fi
echo
echo "Results: $out"
