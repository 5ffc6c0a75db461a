#!/usr/bin/env python3
"""Prove the conformance checks can fail: run each against mockserver.py with one spec violation
switched on and expect exactly the check that guards that rule to FAIL; first, a full run against
the mock without faults must pass, so the failures come from the faults alone.

Usage: Tests/nbd/selftest.py            (about a minute; exit 1 if any case misbehaves)
"""

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# (fault, check that must FAIL, server runs read-only)
CASES = [
    ("no-fixed-newstyle", "hs.greeting", False),
    ("keep-unknown-client-flags", "hs.client-flags-unknown", False),
    ("unknown-option-invalid", "hs.unknown-option", False),
    ("abort-no-reply", "hs.abort", False),
    ("info-export-length", "probe", False),
    ("go-differs", "hs.info-then-go", False),
    ("df-without-structured", "hs.go-flags[simple]", False),
    ("padding-with-no-zeroes", "hs.export-name-no-zeroes", False),
    ("bad-query-length-ack", "hs.list-meta-bad-query-length", False),
    ("wrong-cookie", "io.read[simple]", False),
    ("simple-read-in-structured", "io.read[structured]", False),
    ("overlapping-chunks", "io.read[structured]", False),
    ("short-read", "io.read[structured]", False),
    ("lost-write", "io.write-read[simple]", False),
    ("zeroes-not-zero", "io.write-zeroes[simple]", False),
    ("req-one-ignored", "io.block-status-req-one", False),
    ("zero-flag-on-data", "io.block-status-matches-data", False),
    ("two-status-chunks", "io.block-status", False),
    ("df-ignored", "io.read-df", False),
    ("cache-unknown-flag-ok", "io.cache", False),
    ("private-cache", "io.multi-conn", False),
    ("read-only-writes", "err.read-only", True),
    ("exit-on-hangup", "stress.hangup-in-flight", False),
    ("exit-on-bad-magic", "close.bad-request-magic", False),
    ("no-close-after-disc", "stress.disc-in-flight", False),
    ("global-send-lock", "stress.stalled-reader", False),
]


class MockServer:
    def __init__(self, workdir, name, faults=(), read_only=False):
        self.sock = os.path.join(workdir, name + ".sock")
        argv = [sys.executable, os.path.join(HERE, "mockserver.py"), "--unix", self.sock]
        argv += [a for f in faults for a in ("--fault", f)] + (["--read-only"] if read_only else [])
        self.proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("Error: mockserver.py did not start (%s)" % name)
            time.sleep(0.05)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait()


def conformance(sock, *options):
    argv = [sys.executable, os.path.join(HERE, "conformance.py"), "--unix", sock, "--timeout", "2",
            "--quick", "--seed", "1"] + list(options)
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    return done.returncode, done.stdout


def failed_checks(output):
    return {line[5:].split(":", 1)[0] for line in output.splitlines() if line.startswith("FAIL ")}


def baseline(workdir):
    ok = True
    for read_only in (False, True):
        with MockServer(workdir, "baseline-%s" % read_only, read_only=read_only) as server:
            status, output = conformance(server.sock, *([] if read_only else ["--writable"]))
        label = "read-only" if read_only else "writable"
        if status != 0:
            ok = False
            print("FAIL baseline (%s mock, no faults) did not pass:\n%s" % (label, output))
        else:
            print("ok   baseline: %s mock without faults passes (%s)" % (label, output.splitlines()[-1]))
    return ok


def fault_case(workdir, fault, expected, read_only):
    pattern = "^%s$" % expected.replace(".", r"\.").replace("[", r"\[").replace("]", r"\]")
    with MockServer(workdir, fault, (fault,), read_only) as server:
        options = ["--only", pattern] + ([] if read_only else ["--writable"])
        status, output = conformance(server.sock, *options)
    failed = failed_checks(output)
    if status != 0 and expected in failed:
        reason = next(line for line in output.splitlines() if line.startswith("FAIL %s" % expected))
        print("ok   %-26s -> %s" % (fault, reason[:150]))
        return True
    print("FAIL %-26s -> expected FAIL %s, got exit %d:\n%s" % (fault, expected, status, output))
    return False


def main():
    with tempfile.TemporaryDirectory(prefix="nbd-selftest.") as workdir:
        ok = baseline(workdir)
        results = [fault_case(workdir, *case) for case in CASES]
    print("%d of %d faults caught; baseline %s" % (sum(results), len(results), "passes" if ok else "FAILS"))
    return 0 if ok and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
