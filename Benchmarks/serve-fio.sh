#!/usr/bin/env bash
# rdr serve against qemu-nbd and nbdkit (file plugin) on a same-sized sparse raw file, with fio's
# nbd engine: 4 jobs × iodepth 16, 4 KiB and 64 KiB random writes, 1 MiB sequential reads.
# rdr runs split (one member written, write-intent on each region's first write) and duplex
# (both members written); "fresh" starts from an empty image, "written" repeats on the image
# the first pass left (regions already dirty / allocated).
# Usage: Benchmarks/serve-fio.sh [SECONDS] [ROUNDS]   (defaults 8 and 1; needs fio, qemu-nbd, nbdkit, nbdinfo)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-8}; rounds=${2:-1}
rdr=$(pwd)/.build/release/rdr
[ -x "$rdr" ] || swift build -c release --product rdr >/dev/null
work=$(mktemp -d /tmp/rdr-serve-fio.XXXXXX)
trap 'rm -rf "$work"' EXIT

wait_for() {  # socket export
  for _ in $(seq 200); do nbdinfo --size "nbd+unix:///$2?socket=$1" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "server on $1 did not start" >&2; return 1
}

load() {  # uri label
  for spec in "randwrite 4k" "randwrite 64k" "read 1m"; do
    set -- "$1" "$2" $spec
    fio --name=j --ioengine=nbd --uri="$1" --rw="$3" --bs="$4" --numjobs=4 --iodepth=16 --size=4g \
        --time_based --runtime="$seconds" --group_reporting --output-format=json --output="$work/fio.json" >/dev/null 2>&1
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; print("%-24s %-9s %-4s %6.0f MiB/s" % (sys.argv[2], sys.argv[3], sys.argv[4], (j["write"]["bw_bytes"]+j["read"]["bw_bytes"])/1048576))' \
        "$work/fio.json" "$2" "$3" "$4"
  done
}

peer() {  # label command...
  local label=$1; shift
  sync  # no writeback of the previous run's dirty pages during this one
  rm -f "$work/peer.img"; truncate -s 4G "$work/peer.img"
  "$@" &
  local pid=$!
  wait_for "$work/peer.sock" disk
  load "nbd+unix:///disk?socket=$work/peer.sock" "$label fresh"
  load "nbd+unix:///disk?socket=$work/peer.sock" "$label written"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

rdr_serve() {  # label [split]
  rm -rf "$work/sys"
  sync
  "$rdr" init --system "$work/sys" --disk boot:4G:mandatory >/dev/null
  [ "${2:-}" = split ] && "$rdr" disk split --system "$work/sys" >/dev/null
  "$rdr" serve --system "$work/sys" >/dev/null 2>&1 &
  local pid=$!
  wait_for "$work/sys/nbd.sock" boot
  load "nbd+unix:///boot?socket=$work/sys/nbd.sock" "$1 fresh"
  load "nbd+unix:///boot?socket=$work/sys/nbd.sock" "$1 written"
  kill -TERM "$pid"; wait "$pid"
}

echo "# $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), ${seconds}s each"
for _ in $(seq "$rounds"); do
  peer qemu-nbd qemu-nbd -f raw -x disk --socket="$work/peer.sock" -t --shared=8 "$work/peer.img"
  command -v nbdkit >/dev/null && peer nbdkit nbdkit -f -U "$work/peer.sock" -e disk file "$work/peer.img"
  rdr_serve "rdr split" split
  rdr_serve "rdr duplex"
done
