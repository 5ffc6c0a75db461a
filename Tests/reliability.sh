#!/usr/bin/env bash
# The reliability runs that are not XCTest cases: the crash loop with its oracle (rdr-torture)
# and the fuzzers. Short by default (CI); --long for the figures in the README.
#   Tests/reliability.sh            ~3 minutes: 10 torture runs, 60 s of fuzzing
#   Tests/reliability.sh --long     the README's long run: 100 torture runs, 15 minutes of fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
runs=10; fuzz=60
if [ "${1:-}" = "--long" ]; then runs=100; fuzz=900; fi
swift build -c release --product rdr >&2
swift build -c release --product rdr-torture >&2
bin=$(swift build -c release --show-bin-path)
"$bin/rdr-torture" --rdr "$bin/rdr" --runs "$runs" --kill-percent 40 --seed "${RDR_TORTURE_SEED:-$(date +%s)}"
Tests/fuzz/run.sh "$fuzz"
