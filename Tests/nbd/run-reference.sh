#!/usr/bin/env bash
# Run conformance.py against the reference servers (qemu-nbd, nbdkit) on temporary Unix sockets.
# Usage: Tests/nbd/run-reference.sh [conformance.py options, e.g. --quick]
# Each server configuration that cannot run (tool missing) is skipped with a printed reason.
# Exit status: 0 when every configuration that ran passed, 1 otherwise.
set -u

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/nbd-reference.XXXXXX")
server_pid=""
failed=()
passed=()
skipped=()

cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
        server_pid=""
    fi
}

skip() {  # name, reason
    echo "SKIP $1: $2"
    skipped+=("$1")
}

# run_case NAME "conformance options" server command...
# Starts the server in the background (it must stay in the foreground itself), waits for its
# socket, runs the checks, stops the server.
run_case() {
    local name=$1 options=$2
    shift 2
    local sock="$work/$name.sock" log="$work/$name.log"
    echo "=== $name: ${*//$work/\$TMP}"
    "$@" >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        [ -S "$sock" ] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ ! -S "$sock" ]; then
        echo "FAIL $name: server did not start"; sed 's/^/    /' "$log"
        failed+=("$name"); stop_server; return
    fi
    # shellcheck disable=SC2086  # options is a list of words
    if python3 "$here/conformance.py" --unix "$sock" $options "${extra[@]}"; then
        passed+=("$name")
    else
        failed+=("$name")
        echo "--- $name server log (last 20 lines):"; tail -n 20 "$log" | sed 's/^/    /'
    fi
    stop_server
}

qemu_cases() {
    if ! command -v qemu-nbd >/dev/null || ! command -v qemu-img >/dev/null; then
        skip qemu-nbd "qemu-nbd or qemu-img not installed (Debian: qemu-utils)"; return
    fi
    echo "# $(qemu-nbd --version | head -n 1)"
    qemu-img create -q -f raw "$work/q.raw" 64M
    local common=(-x disk -t --shared=8 -k)
    run_case qemu-nbd-raw "--export disk --writable" qemu-nbd -f raw "${common[@]}" "$work/qemu-nbd-raw.sock" "$work/q.raw"
    run_case qemu-nbd-raw-ro "--export disk" qemu-nbd -f raw -r "${common[@]}" "$work/qemu-nbd-raw-ro.sock" "$work/q.raw"
    # A qcow2 image with a persistent dirty bitmap, to exercise qemu:dirty-bitmap:b0.
    qemu-img create -q -f qcow2 "$work/q.qcow2" 64M
    qemu-img bitmap --add "$work/q.qcow2" b0
    run_case qemu-nbd-qcow2-bitmap "--export disk --writable" \
        qemu-nbd -f qcow2 -B b0 "${common[@]}" "$work/qemu-nbd-qcow2-bitmap.sock" "$work/q.qcow2"
}

nbdkit_cases() {
    if ! command -v nbdkit >/dev/null; then
        skip nbdkit "nbdkit not installed (Debian: nbdkit)"; return
    fi
    local version threads=()
    version=$(nbdkit --version | awk '{print $2}')
    echo "# nbdkit $version"
    # nbdkit before 1.33.10 aborts (connections.c raw_send_socket: Assertion `sock >= 0') when a
    # client hangs up with several requests in flight; stress.hangup-in-flight shows it. The
    # upstream fix (9d82aa4f, RHBZ 2173054) names --threads=1 as the workaround.
    if [ "$(printf '%s\n' "$version" 1.33.10 | sort -V | head -n 1)" != 1.33.10 ]; then
        threads=(--threads=1)
        echo "# nbdkit $version < 1.33.10: running with --threads=1 (see README.md, known deviations)"
    fi
    qemu-img create -q -f raw "$work/k.raw" 64M 2>/dev/null || truncate -s 64M "$work/k.raw"
    local nk=(nbdkit -f "${threads[@]}" -U)
    run_case nbdkit-memory "--writable" "${nk[@]}" "$work/nbdkit-memory.sock" memory 64M
    run_case nbdkit-file "--writable" "${nk[@]}" "$work/nbdkit-file.sock" file "$work/k.raw"
    run_case nbdkit-file-ro "" "${nk[@]}" "$work/nbdkit-file-ro.sock" -r file "$work/k.raw"
    # Advertised block size limits with requests outside them refused: exercises err.unaligned.
    run_case nbdkit-blocksize-policy "--writable" "${nk[@]}" "$work/nbdkit-blocksize-policy.sock" \
        --filter=blocksize-policy memory 64M blocksize-minimum=512 blocksize-preferred=4096 \
        blocksize-maximum=1M blocksize-error-policy=error
}

if ! command -v python3 >/dev/null; then
    echo "SKIP all: python3 not installed"; exit 0
fi
extra=("$@")
qemu_cases
nbdkit_cases

echo "=== reference servers: ${#passed[@]} passed, ${#failed[@]} failed, ${#skipped[@]} skipped"
[ ${#failed[@]} -eq 0 ] || { echo "failed: ${failed[*]}"; exit 1; }
