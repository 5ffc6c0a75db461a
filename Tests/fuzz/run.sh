#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for an equal share of SECONDS (default 60).
# Crashes are written to Tests/fuzz/crashes/<target>/; copy each into
# Tests/fuzz/regressions/<target>/ once fixed: RDRTests/FuzzRegressionTests replays them.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="/opt/swift/usr/bin:$PATH"
seconds=${1:-60}
targets=(FuzzMetadata FuzzManifest FuzzConfiguration FuzzArguments FuzzNBD)
share=$(( seconds / ${#targets[@]} )); [ "$share" -ge 1 ] || share=1
swift build -c release --sanitize=fuzzer --scratch-path .build-fuzz ${RDR_FUZZ_BUILD_FLAGS:-} >&2
bin=$(swift build -c release --sanitize=fuzzer --scratch-path .build-fuzz --show-bin-path)
status=0
total=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "crashes/$t"
  # Seed each corpus with the regression inputs and the checked-in seeds.
  [ -d "regressions/$t" ] && cp -n regressions/"$t"/* "corpus/$t/" 2>/dev/null || true
  [ -d "seeds/$t" ] && cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
  log=$(mktemp)
  if SWIFT_BACKTRACE=enable=no "$bin/$t" "corpus/$t" -max_total_time="$share" -rss_limit_mb=2048 \
       -artifact_prefix="crashes/$t/" -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    echo "$t: ${runs:-?} executions, no crash"
    total=$(( total + ${runs:-0} ))
  else
    echo "$t: CRASH — input kept in crashes/$t/"; tail -n 30 "$log"; status=1
  fi
  rm -f "$log"
done
echo "fuzzing: $total executions in ${seconds}s"
exit $status
