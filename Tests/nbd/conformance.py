#!/usr/bin/env python3
"""NBD conformance checks written from the NBD protocol document (doc/proto.md of the NBD project).

Connects to a server over a Unix socket or TCP and runs named checks, printing
  PASS name | FAIL name: why | SKIP name: why | NOTE name: ...
and a final count. Exit status 1 when any check fails, 2 when the server cannot be probed.
Only MUST-level rules fail a check; SHOULD/MAY differences are NOTEs (FAILs with --strict).
Python 3 standard library only. See README.md beside this file.
"""

import argparse
import os
import random
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import checks_handshake  # noqa: E402,F401  (registers checks)
import checks_meta  # noqa: E402,F401
import checks_io  # noqa: E402,F401
import checks_status  # noqa: E402,F401
import checks_concurrency  # noqa: E402,F401
import checks_errors  # noqa: E402,F401
import checks_close  # noqa: E402,F401
import checks_stress  # noqa: E402,F401
from nbdwire import Target  # noqa: E402


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--unix", metavar="PATH", help="server's Unix socket")
    where.add_argument("--tcp", metavar="HOST:PORT", help="server's TCP address")
    parser.add_argument("--export", metavar="NAME",
                        help="export to test (default: the server's default export)")
    parser.add_argument("--writable", action="store_true",
                        help="run write checks (OVERWRITES data on the export)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer sizes, 100 instead of 1000 connections, shorter stalls")
    parser.add_argument("--strict", action="store_true",
                        help="treat SHOULD-level differences as failures")
    parser.add_argument("--only", metavar="REGEX", help="run only checks whose name matches")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds any single wait may take (default 10)")
    parser.add_argument("--seed", type=int, default=None, help="seed for cookies and data patterns")
    args = parser.parse_args(argv)
    if not args.list and not (args.unix or args.tcp):
        parser.error("one of --unix or --tcp is required")
    return args


def target_of(args):
    if args.unix:
        return Target("unix", args.unix, args.timeout)
    host, sep, port = args.tcp.rpartition(":")
    if not sep or not port.isdigit():
        raise SystemExit("Error: --tcp wants HOST:PORT, got %r" % args.tcp)
    return Target("tcp", (host.strip("[]"), int(port)), args.timeout)


def main(argv):
    args = parse_args(argv)
    if args.list:
        for name, _, _ in harness.CHECKS:
            print(name)
        return 0
    if args.seed is None:
        args.seed = random.randrange(1 << 31)
    random.seed(args.seed)
    ctx = harness.Ctx(args, target_of(args))
    status, reason = harness.run_one(ctx, harness.probe, None)
    if status != "PASS":
        print("FAIL probe: %s" % reason)
        return 2
    info = ctx.info
    print("# server %s, export %r: %d bytes, flags %s" % (ctx.target.describe(), ctx.export, info.size,
                                                          harness.describe_flags(info.flags)))
    sizes = "%d / %d / %d" % info.block_size if info.block_size else "not advertised"
    print("# block sizes (min / preferred / max): %s; structured replies: %s; contexts: %s; seed %d"
          % (sizes, "yes" if ctx.structured_ok else "no", ", ".join(ctx.context_names) or "none", args.seed))
    return 0 if harness.run_all(ctx, args.only) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
