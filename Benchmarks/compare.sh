#!/usr/bin/env bash
# Measures RDR's resync side by side with cp, qemu-img, nbdcopy, rsync, a dd ceiling and the
# replayed-extent limit (RDR's own plan replayed by fio), interleaved round by round on the same
# diverged image pair, on the disk and on tmpfs. --quick: small sizes, under two minutes (CI
# smoke run). The full run writes Benchmarks/results/ (results.md and SVG charts). Missing
# tools are skipped with the reason; install them with:
#   apt-get install qemu-utils libnbd-bin rsync fio time strace
# rdr is measured as deployed: a stripped release build linked fully statically (Swift runtime,
# libc, libstdc++). A cold start is bound by reading the binary and the libraries it maps (this
# disk reads 8 MiB around every page fault): a static, non-PIE executable maps one 16 MB file
# instead of five (21 MB) and has no relocations to apply. rdr-bench gets its own build
# directory: the two builds' flags differ, and sharing one would recompile the engine each time.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release --static-swift-stdlib -Xswiftc -static-executable --scratch-path .build-static --product rdr >&2
swift build -c release --scratch-path .build-bench --product rdr-bench >&2
bin=$(swift build -c release --scratch-path .build-static --show-bin-path)
bench=$(swift build -c release --scratch-path .build-bench --show-bin-path)
# Deployed binaries are stripped: symbols are not needed to run, and a cold start reads less.
rdr="$bin/rdr"
if command -v strip > /dev/null && strip -o "$bin/rdr-stripped" "$bin/rdr"; then rdr="$bin/rdr-stripped"; fi
exec "$bench/rdr-bench" --rdr "$rdr" "$@"
