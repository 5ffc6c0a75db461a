#!/usr/bin/env bash
# The reliability runs that are not XCTest cases: the crash loop with its oracle (rdr-torture)
# and the fuzzers. Short by default (CI); --long for the figures in the README.
#   Tests/reliability.sh            ~3 minutes: 10 torture runs, 60 s of fuzzing
#   Tests/reliability.sh --long     the README's long run: the fault and power-cut sweeps multiplied
#                                   (RDR_RELIABILITY_LONG=1), 250 torture runs of 30 steps with 60 %
#                                   kills, 15 minutes of fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
runs=10; fuzz=60; steps=14; kills=40
if [ "${1:-}" = "--long" ]; then
  runs=250; fuzz=900; steps=30; kills=60
  # The sweeps print their counts ("... fault points", "power cuts: N cuts"); a failure stops here.
  log=$(mktemp)
  status=0
  RDR_RELIABILITY_LONG=1 swift test --filter 'ReliabilityTests|RequestFaultTests|SessionFileFaultTests' > "$log" 2>&1 || status=$?
  grep -E "fault sweep|power cuts|power-cut|error:|Executed" "$log" | sort -u
  rm -f "$log"
  [ "$status" = 0 ] || { echo "the long fault sweeps failed (exit $status)"; exit 1; }
fi
swift build -c release --product rdr >&2
swift build -c release --product rdr-torture >&2
bin=$(swift build -c release --show-bin-path)
"$bin/rdr-torture" --rdr "$bin/rdr" --runs "$runs" --steps "$steps" --kill-percent "$kills" --seed "${RDR_TORTURE_SEED:-$(date +%s)}"
Tests/fuzz/run.sh "$fuzz"
