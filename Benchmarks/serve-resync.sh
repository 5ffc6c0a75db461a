#!/usr/bin/env bash
# A resync while fio writes to the same disk through `rdr serve` (the question DRBD's c-min-rate
# answers): does the resync stall under a client's load, and does the client starve under the
# resync? Each round diverges a data disk by DIVERGE bytes on the Production Side (split,
# `rdr workload`, merge: a commit resync copies Production → Upgrade), starts `rdr serve`, and:
#   idle    `rdr disk resync data --from 10` with no client (forwarded to the serving owner)
#   alone   fio on the `data@upgrade` export once the disk is back in sync (duplex: both
#           members written), for SECONDS (the first one dropped: connection set-up)
#   loaded  for each --min-rate in MIN_RATES ("default" = no option; 1024T = never slows down, the
#           resync of before the option), a fresh divergence and the same resync with fio writing
#           to `data@upgrade` from the moment it starts, for LOAD seconds or until the resync
#           ends, whichever is first (merged, a data disk is the Upgrade Side's, served from its
#           Production member)
# fio: nbd engine, 4 jobs × iodepth 16, random writes of BS over the whole disk. Resync time is
# the engine's own (`--json` seconds); fio's rate under load is its bandwidth log (250 ms buckets)
# summed over jobs and averaged over the time both ran; "share" is that rate over fio alone.
# Needs an rdr whose commands run inside the serving owner (issue 11 item 1); without it the
# resync is refused as busy (75) and the script says so.
# Usage: [MIN_RATES="1024T default"] [LOAD=10] Benchmarks/serve-resync.sh [DIVERGE] [SECONDS] [ROUNDS] [BS...]
#        (defaults 2G, 8, 1, "4k 64k"; RDR=path picks the binary; needs fio, nbdinfo, python3)
set -euo pipefail
cd "$(dirname "$0")/.."
diverge=${1:-2G}; seconds=${2:-8}; rounds=${3:-1}; shift $(( $# < 3 ? $# : 3 ))
sizes=${*:-4k 64k}
min_rates=${MIN_RATES:-1024T default}; load=${LOAD:-10}
rdr=${RDR:-$(pwd)/.build/release/rdr}
[ -x "$rdr" ] || swift build -c release --product rdr >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/rdr-serve-resync.XXXXXX")  # TMPDIR picks the filesystem
sys=$work/sys; sock=$sys/nbd.sock; uri="nbd+unix:///data@upgrade?socket=$sock"
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

now() { date +%s.%N; }

serve() {
  "$rdr" serve --system "$sys" >"$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 200); do nbdinfo --size "$uri" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "rdr serve did not start: $(cat "$work/serve.log")" >&2; exit 1
}

unserve() { kill -TERM "$server"; wait "$server"; server=; }

diverged() {  # a fresh system whose data disk differs by $diverge on the Production Side, merged
  rm -rf "$sys"
  "$rdr" init --system "$sys" --disk data:4G:data >/dev/null
  "$rdr" disk split --system "$sys" >/dev/null
  "$rdr" workload data --side production --bytes "$diverge" --io-size 1M --pattern random --system "$sys" >/dev/null
  "$rdr" disk merge --system "$sys" >/dev/null
  sync
}

resync_start() {  # [min-rate]: in the background, returning once the plan is fixed (status shows it)
  local rate=()
  [ -n "${1:-}" ] && [ "$1" != default ] && rate=(--min-rate "$1")
  "$rdr" disk resync data --from 10 --json "${rate[@]}" --system "$sys" >"$work/resync.json" &
  resync_pid=$!
  while kill -0 "$resync_pid" 2>/dev/null \
        && ! "$rdr" status --json --system "$sys" | grep -q '"status":"Resync'; do sleep 0.01; done
}

resync_wait() {  # sets $took to the engine's seconds (not in a $(…) subshell: it must wait for its child)
  wait "$resync_pid" || {
    echo "rdr disk resync failed (exit $?): a resync inside a running rdr serve needs the owner forwarding (issue 11 item 1)" >&2
    exit 1
  }
  took=$(python3 -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))["seconds"])' "$work/resync.json")
}

fio_start() {  # bs seconds: fio in the background, bandwidth logged per job every 250 ms
  rm -f "$work"/bw_bw.*.log
  fio --name=w --ioengine=nbd --uri="$uri" --rw=randwrite --bs="$1" --numjobs=4 --iodepth=16 --size=4g \
      --time_based --runtime="$2" --write_bw_log="$work/bw" --log_avg_msec=250 >"$work/fio.out" 2>&1 &
  fio_pid=$!
}

fio_wait() {  # fio writes its logs as it exits; stopped by SIGINT it exits 1 after its report
  wait "$fio_pid" || true
  grep -q "Run status group" "$work/fio.out" || { echo "fio failed: $(cat "$work/fio.out")" >&2; exit 1; }
}

fio_rate() {  # from to (seconds since fio started): MiB/s summed over jobs, averaged over the span
  python3 - "$work" "$1" "$2" <<'EOF'
import glob, sys
work, lo, hi = sys.argv[1], float(sys.argv[2]) * 1000, float(sys.argv[3]) * 1000
buckets = {}
for path in glob.glob(work + "/bw_bw.*.log"):
    for line in open(path):
        t, kib = (int(x) for x in line.split(",")[:2])
        if lo < t <= hi:
            buckets[t // 250] = buckets.get(t // 250, 0) + kib
print("%.0f" % (sum(buckets.values()) / len(buckets) / 1024 if buckets else 0))
EOF
}

echo "# $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); 4 GiB data disk, $diverge diverged, fio 4 jobs × iodepth 16 randwrite for ${load}s from the resync's start"
printf '%-6s %-9s %8s %9s %9s %11s %11s %6s\n' bs min-rate "idle s" "loaded s" slowdown "fio alone" "fio during" share
for _ in $(seq "$rounds"); do
  for bs in $sizes; do
    diverged; serve
    resync_start; resync_wait; idle=$took
    fio_start "$bs" "$seconds"; fio_wait
    alone=$(fio_rate 1 "$seconds")  # the first second is connection set-up
    unserve

    for rate in $min_rates; do
      # fio starts once the resync's plan is fixed: its writes before that would grow the plan
      # (merged, a data disk's writes land on the Production member and set bits).
      diverged; serve
      resync_start "$rate"; fio_start "$bs" "$load"; started=$(now)
      resync_wait; ended=$(now); loaded=$took
      kill -INT "$fio_pid" 2>/dev/null || true; fio_wait
      during=$(fio_rate 0 "$(echo "e = $ended - $started; if (e < $load) e else $load" | bc)")
      unserve
      "$rdr" disk verify data --system "$sys" >/dev/null  # the members are identical after all of it

      printf '%-6s %-9s %8s %9s %8.2fx %11s %11s %5.0f%%\n' "$bs" "$rate" "$idle" "$loaded" \
        "$(echo "$loaded / $idle" | bc -l)" "$alone" "$during" "$(echo "100 * $during / $alone" | bc -l)"
    done
  done
done
