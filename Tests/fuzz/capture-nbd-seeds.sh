#!/usr/bin/env bash
# Regenerates Tests/fuzz/seeds/FuzzNBD: real NBD conversations between real clients (nbdinfo,
# qemu-io, qemu-img, nbdcopy) and real servers (nbdkit memory, qemu-nbd), recorded by a small
# recording proxy on Unix sockets. Each connection gives two files:
#   <client>-<server>[-<n>].c2s   what the client sent (the server-side decoder's input)
#   <client>-<server>[-<n>].s2c   what the server sent (the client-side decoder's input)
# Needs nbdkit, qemu-nbd, qemu-io, qemu-img, nbdinfo, nbdcopy and python3 (for the proxy only).
set -euo pipefail
cd "$(dirname "$0")"
out=seeds/FuzzNBD
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$out"

# The recording proxy: accepts on $1, connects each client to $2, appends each direction of
# connection n to $3-n.c2s / $3-n.s2c.
cat >"$work/proxy.py" <<'EOF'
import os, socket, sys, threading
front, back, prefix = sys.argv[1:4]
listener = socket.socket(socket.AF_UNIX)
listener.bind(front)
listener.listen(16)
def pump(src, dst, path):
    with open(path, "ab") as log:
        try:
            while data := src.recv(1 << 20):
                log.write(data)
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass   # the other side hung up first
n = 0
while True:
    client, _ = listener.accept()
    server = socket.socket(socket.AF_UNIX)
    server.connect(back)
    n += 1
    threading.Thread(target=pump, args=(client, server, f"{prefix}-{n}.c2s"), daemon=True).start()
    threading.Thread(target=pump, args=(server, client, f"{prefix}-{n}.s2c"), daemon=True).start()
EOF

wait_for() { for _ in $(seq 100); do [ -S "$1" ] && return; sleep 0.05; done; echo "no socket $1" >&2; exit 1; }

# record NAME SERVER-SOCKET COMMAND...: runs COMMAND against a recording proxy in front of the server.
record() {
  local name=$1 back=$2; shift 2
  local front="$work/$name.sock"
  python3 "$work/proxy.py" "$front" "$back" "$work/$name" & local proxy=$!
  wait_for "$front"
  "${@//@SOCK@/$front}" >/dev/null
  sleep 0.3; kill "$proxy"; wait "$proxy" 2>/dev/null || true
}

truncate -s 1M "$work/disk.raw"
nbdkit --unix "$work/nbdkit.sock" --foreground memory 1M & wait_for "$work/nbdkit.sock"
qemu-nbd --socket "$work/qemu.sock" --format raw --persistent --shared 8 "$work/disk.raw" & wait_for "$work/qemu.sock"
# 24 KiB of data then a hole: the seeds stay small.
head -c 24k /dev/urandom >"$work/source.raw"; truncate -s 1M "$work/source.raw"

for server in nbdkit qemu; do
  sock="$work/$server.sock"
  record "nbdinfo-list-$server" "$sock" nbdinfo --list "nbd+unix:///?socket=@SOCK@"
  record "nbdinfo-map-$server" "$sock" nbdinfo --map "nbd+unix:///?socket=@SOCK@"
  record "qemu-io-$server" "$sock" qemu-io -f raw \
    -c 'write -P 0xab 0 8k' -c 'write -f -P 0xcd 64k 4k' -c 'read -P 0xab 0 8k' -c 'flush' \
    -c 'write -z 128k 64k' -c 'discard 256k 64k' -c 'read 0 512' "nbd+unix:///?socket=@SOCK@"
  record "qemu-img-map-$server" "$sock" qemu-img map --output=json -f raw "nbd+unix:///?socket=@SOCK@"
  record "nbdcopy-$server" "$sock" nbdcopy --connections=2 --flush "$work/source.raw" "nbd+unix:///?socket=@SOCK@"
done

# Keep every non-empty direction of every connection.
for f in "$work"/*.c2s "$work"/*.s2c; do
  [ -s "$f" ] && cp "$f" "$out/$(basename "$f")"
done
ls -l "$out"
