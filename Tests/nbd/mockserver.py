#!/usr/bin/env python3
"""A small in-memory NBD server with switchable spec violations, for selftest.py.

Without faults it is a conforming fixed-newstyle server (the self-test proves that with a full
conformance run); each --fault NAME breaks one rule, so the self-test can show the check that
should catch it fails. Not a general-purpose server: one export, memory only.
"""

import argparse
import os
import socket
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import nbdproto as P  # noqa: E402
from mockconnection import Connection  # noqa: E402

BLOCK = 4096
FAULTS = {
    "no-fixed-newstyle": "greeting without NBD_FLAG_FIXED_NEWSTYLE",
    "keep-unknown-client-flags": "continue after unknown client flags",
    "unknown-option-invalid": "answer unknown options with ERR_INVALID",
    "abort-no-reply": "close on NBD_OPT_ABORT without NBD_REP_ACK",
    "info-export-length": "NBD_INFO_EXPORT of 14 bytes",
    "go-differs": "GO sends other flags than the INFO just before",
    "df-without-structured": "SEND_DF without structured replies",
    "padding-with-no-zeroes": "124 zero bytes after EXPORT_NAME despite NO_ZEROES",
    "bad-query-length-ack": "ACK a LIST_META_CONTEXT whose query overruns the option",
    "wrong-cookie": "simple replies carry a different cookie",
    "simple-read-in-structured": "simple reply to READ after structured replies",
    "overlapping-chunks": "structured READ in two overlapping chunks",
    "short-read": "structured READ that covers half the request",
    "lost-write": "acknowledge WRITE without storing it",
    "zeroes-not-zero": "acknowledge WRITE_ZEROES without zeroing",
    "req-one-ignored": "two extents despite NBD_CMD_FLAG_REQ_ONE",
    "zero-flag-on-data": "NBD_STATE_ZERO on every extent",
    "two-status-chunks": "two BLOCK_STATUS chunks for one context",
    "df-ignored": "two content chunks despite NBD_CMD_FLAG_DF",
    "cache-unknown-flag-ok": "CACHE succeeds with an unknown flag",
    "private-cache": "writes visible only to their own connection until DISC",
    "read-only-writes": "writes succeed on a read-only export",
    "exit-on-hangup": "the process exits when a client hangs up with requests in flight",
    "exit-on-bad-magic": "the process exits on a request with a bad magic",
    "no-close-after-disc": "keep the connection open after NBD_CMD_DISC",
    "global-send-lock": "one lock around every reply send, so one stalled client blocks all",
}


class Store:
    """Bytes plus a per-4K-block hole map for base:allocation."""

    def __init__(self, size):
        self.data = bytearray(size)
        self.hole = bytearray(b"\1") * ((size + BLOCK - 1) // BLOCK)
        self.lock = threading.Lock()

    def write(self, offset, payload):
        with self.lock:
            self.data[offset:offset + len(payload)] = payload
            for b in range(offset // BLOCK, (offset + len(payload) + BLOCK - 1) // BLOCK):
                self.hole[b] = 0

    def zero(self, offset, length, punch):
        with self.lock:
            self.data[offset:offset + length] = bytes(length)
            if punch:
                for b in range((offset + BLOCK - 1) // BLOCK, (offset + length) // BLOCK):
                    self.hole[b] = 1

    def extents(self, offset, length, all_zero):
        """Run-length base:allocation descriptors from offset, at least covering length."""
        out = []
        pos, end = offset, min(offset + length, len(self.data))
        while pos < end:
            b = pos // BLOCK
            state = self.hole[b]
            nxt = (b + 1) * BLOCK
            while nxt < end and self.hole[nxt // BLOCK] == state:
                nxt += BLOCK
            nxt = min(nxt, len(self.data))
            flags = P.STATE_HOLE | P.STATE_ZERO if state else (P.STATE_ZERO if all_zero else 0)
            out.append((nxt - pos, flags))
            pos = nxt
        return out


class Server:
    def __init__(self, path, size, faults, read_only):
        self.path = path
        self.store = Store(size)
        self.faults = set(faults)
        self.read_only = read_only
        self.send_lock = threading.Lock()

    def fault(self, name):
        return name in self.faults

    def flags(self, structured, for_go=False):
        f = (P.TF_HAS_FLAGS | P.TF_SEND_FLUSH | P.TF_SEND_FUA | P.TF_SEND_TRIM | P.TF_SEND_WRITE_ZEROES
             | P.TF_CAN_MULTI_CONN | P.TF_SEND_CACHE | P.TF_SEND_FAST_ZERO)
        if structured or self.fault("df-without-structured"):
            f |= P.TF_SEND_DF
        if self.read_only:
            f |= P.TF_READ_ONLY
        if for_go and self.fault("go-differs"):
            f &= ~P.TF_SEND_CACHE
        return f

    def serve(self):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        listener.listen(64)
        while True:
            sock, _ = listener.accept()
            threading.Thread(target=Connection(self, sock).run, daemon=True).start()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--unix", required=True)
    parser.add_argument("--size", type=int, default=16 << 20)
    parser.add_argument("--read-only", action="store_true")
    parser.add_argument("--fault", action="append", default=[], choices=sorted(FAULTS))
    args = parser.parse_args()
    Server(args.unix, args.size, args.fault, args.read_only).serve()


if __name__ == "__main__":
    main()
