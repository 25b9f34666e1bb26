#!/usr/bin/env bash
# Runs every fuzz target (or those named as arguments) for FUZZ_SECONDS (default 600), JOBS at a time (default 1),
# with the committed seeds as a read-only corpus and new inputs under
# $WORK (default /tmp/weft-fuzz); prints each target's final libFuzzer stats
# (executions, coverage, features, corpus size, executions per second).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER=${FUZZ_SECONDS:-600}
JOBS=${JOBS:-1}
WORK=${WORK:-/tmp/weft-fuzz}
targets=${*:-$(ls fuzz_targets | sed 's/\.rs$//')}
run_one() {
  t=$1
  mkdir -p "$WORK/$t"
  cargo +nightly fuzz run "$t" -s none -a "$WORK/$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_PER" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    >"$WORK/$t.log" 2>&1
  status=$?
  stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$WORK/$t.log" | tail -1)
  eps=$(grep -E '^stat::average_exec_per_sec' "$WORK/$t.log" | awk '{print $2}')
  echo "$t exit=$status execs/s=$eps $stats"
}
export -f run_one
export SECONDS_PER WORK
printf '%s\n' $targets | xargs -P "$JOBS" -I{} bash -c 'run_one {}'
