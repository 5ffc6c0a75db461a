#!/usr/bin/env bash
# rdr serve against qemu-nbd and nbdkit (file plugin), same-sized raw files, the same client:
# fio's nbd engine, 4 jobs × iodepth 16, over Unix sockets. rdr runs split (one member written,
# write-intent on each region's first write) and duplex (both members written).
#
# All four servers run at once and every timed run is interleaved (qemu-nbd, nbdkit, rdr split,
# rdr duplex, again …), so a change of machine load hits them alike; the table gives medians.
# 1. "fresh": 4 KiB random writes on empty images (rdr pays write-intent on first writes), one
#    run each. 2. Every image is then written whole (1 MiB sequential): "written" runs see
#    allocated blocks and, for rdr, dirty regions; reads read data, not holes (a hole read is
#    free for a server that answers with a structured hole chunk), and synced. 3. RSS of each server while
#    64 connections write (fio, 64 jobs × iodepth 4, 4 KiB random writes): the peak of samples.
# Usage: Benchmarks/serve-fio.sh [SECONDS] [ROUNDS]   (defaults 3 and 3, about 3 minutes; needs
# fio, qemu-nbd, nbdkit, nbdinfo, python3)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3}; rounds=${2:-3}
rdr=$(pwd)/.build/release/rdr
[ -x "$rdr" ] || swift build -c release --product rdr >/dev/null
work=$(mktemp -d /tmp/rdr-serve-fio.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT
targets=(qemu-nbd nbdkit rdr-split rdr-duplex)
declare -A uri pid

wait_for() {  # uri
  for _ in $(seq 200); do nbdinfo --size "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "no server at $1" >&2; return 1
}

start() {  # target
  local d=$work/$1; mkdir -p "$d"
  case $1 in
    qemu-nbd) truncate -s 4G "$d/img"
      qemu-nbd -f raw -x boot --socket="$d/sock" -t --shared=128 "$d/img" & ;;
    nbdkit) truncate -s 4G "$d/img"
      nbdkit -f -U "$d/sock" -e boot file "$d/img" & ;;
    rdr-*) "$rdr" init --system "$d/sys" --disk boot:4G:mandatory >/dev/null
      [ "$1" = rdr-split ] && "$rdr" disk split --system "$d/sys" >/dev/null
      ln -s "$d/sys/nbd.sock" "$d/sock"
      "$rdr" serve --system "$d/sys" >/dev/null 2>&1 & ;;
  esac
  pid[$1]=$!; pids+=($!)
  uri[$1]="nbd+unix:///boot?socket=$d/sock"
  wait_for "${uri[$1]}"
}

run() {  # target label rw bs [jobs depth]  → one line "label target MiB/s" in the log
  fio --name=j --ioengine=nbd --uri="${uri[$1]}" --rw="$3" --bs="$4" --numjobs="${5:-4}" --iodepth="${6:-16}" \
      --thread --size=4g --time_based --runtime="$seconds" --group_reporting --output-format=json \
      --output="$work/fio.json" >/dev/null 2>&1
  # (with many jobs fio writes "connected" lines into the JSON file before the JSON)
  python3 -c 'import json,sys; s=open(sys.argv[1]).read(); j=json.loads(s[s.index("{"):])["jobs"][0]; print(sys.argv[2], sys.argv[3], (j["write"]["bw_bytes"]+j["read"]["bw_bytes"])/1048576)' \
      "$work/fio.json" "$2" "$1" >>"$work/log"
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

echo "# $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), ${seconds}s each, $rounds rounds"
for t in "${targets[@]}"; do start "$t"; done
for t in "${targets[@]}"; do run "$t" "randwrite-4k-fresh" randwrite 4k; done
for t in "${targets[@]}"; do
  fio --name=fill --ioengine=nbd --uri="${uri[$t]}" --rw=write --bs=1m --iodepth=16 --size=4g --output=/dev/null >/dev/null 2>&1
done
sync  # the fill's dirty pages written back now, not throttling the timed runs
for spec in "randwrite 4k" "randwrite 64k" "read 1m"; do
  set -- $spec
  for _ in $(seq "$rounds"); do for t in "${targets[@]}"; do run "$t" "$1-$2" "$1" "$2"; done; done
done
for t in qemu-nbd nbdkit rdr-split; do
  p=${pid[$t]}; idle=$(rss_kib "$p"); peak=$idle
  run "$t" "64-connections" randwrite 4k 64 4 &
  f=$!
  while kill -0 "$f" 2>/dev/null; do r=$(rss_kib "$p"); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.1; done
  echo "rss $t $idle $peak" >>"$work/log"
done
echo "# load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work/log" <<'EOF'
import statistics, sys
runs, rss = {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "rss": rss[f[1]] = (int(f[2]) / 1024, int(f[3]) / 1024)
    else: runs.setdefault(f[0], {}).setdefault(f[1], []).append(float(f[2]))
print("| workload (MiB/s, median) | qemu-nbd | nbdkit | rdr split | rdr duplex | split / best peer | duplex / best peer |")
print("|---|---|---|---|---|---|---|")
for w, r in runs.items():
    if w == "64-connections": continue
    m = {t: statistics.median(v) for t, v in r.items()}
    best = max(m["qemu-nbd"], m["nbdkit"])
    print("| %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f |" % (w, m["qemu-nbd"], m["nbdkit"], m["rdr-split"], m["rdr-duplex"], m["rdr-split"] / best, m["rdr-duplex"] / best))
print()
print("| server, 64 connections (4 KiB random writes) | RSS idle (MiB) | RSS peak (MiB) | MiB/s |")
print("|---|---|---|---|")
for t, (idle, peak) in rss.items():
    print("| %s | %.1f | %.1f | %.0f |" % (t, idle, peak, runs["64-connections"][t][0]))
EOF
