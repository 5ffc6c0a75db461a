"""Check registry, per-run context and runner.

A check is a function of the context. It passes by returning, fails by raising Fail (or by the
server raising Violation/Closed/Timeout inside it), and skips by raising Skip. Spec SHOULD/MAY
differences are recorded with ctx.should(); with --strict they turn a PASS into a FAIL.
"""

import random
import re
import sys
import traceback

import nbdproto as P
from nbdhandshake import (default_client_flags, export_info, greet, list_exports, meta_contexts,
                          send_option, start)
from nbdsession import Session
from nbdwire import Closed, Timeout, Violation, Wire


class Fail(Exception):
    pass


class Skip(Exception):
    pass


CHECKS = []  # (name, function, argument or None), in registration order


def check(name, variants=None):
    """Register a check; with variants, one check per variant named name[variant]."""
    def register(func):
        if variants is None:
            CHECKS.append((name, func, None))
        else:
            for variant in variants:
                CHECKS.append(("%s[%s]" % (name, variant), func, variant))
        return func
    return register


MODES = ("simple", "structured")


class Patterns:
    """Reproducible data that differs per tag and per 64 KiB block, so a write that lands at the
    wrong offset, or a stale read from an earlier run, does not compare equal."""

    BLOCK = 65536

    def __init__(self, seed):
        self.seed = seed
        self.bases = {}

    def base(self, tag):
        if tag not in self.bases:
            self.bases[tag] = random.Random("%s:%s" % (self.seed, tag)).randbytes(2 * self.BLOCK)
        return self.bases[tag]

    def make(self, tag, offset, length):
        base = self.base(tag)
        parts = []
        pos, end = offset, offset + length
        while pos < end:
            block = pos // self.BLOCK
            rotate = (block * 2654435761 + base[0] * 257 + base[1]) % self.BLOCK
            start = rotate + pos % self.BLOCK
            take = min(end - pos, self.BLOCK - pos % self.BLOCK)
            parts.append(base[start:start + take])
            pos += take
        return b"".join(parts)


class Ctx:
    def __init__(self, args, target):
        self.args = args
        self.target = target
        self.timeout = target.timeout
        self.quick = args.quick
        self.export = args.export
        self.patterns = Patterns(args.seed)
        self.hflags = 0
        self.info = None  # ExportInfo from INFO with a block size request
        self.structured_ok = False
        self.context_names = []
        self.notes = []
        self.tag_counter = 0

    # --- notes -------------------------------------------------------------------------------
    def should(self, text):
        """A SHOULD/MAY the server does not follow: a NOTE, or a FAIL under --strict."""
        if ("SHOULD", text) not in self.notes:
            self.notes.append(("SHOULD", text))

    def note(self, text):
        """Information only, never a failure."""
        if ("INFO", text) not in self.notes:
            self.notes.append(("INFO", text))

    # --- requirements ------------------------------------------------------------------------
    @property
    def may_write(self):
        """--writable was given and the export is not read-only."""
        return self.args.writable and not self.info.has(P.TF_READ_ONLY)

    def require_writable(self):
        if not self.args.writable:
            raise Skip("needs --writable")
        if self.info.has(P.TF_READ_ONLY):
            raise Skip("export is read-only (NBD_FLAG_READ_ONLY)")

    def require_flag(self, flag, name):
        if not self.info.has(flag):
            raise Skip("server does not advertise %s" % name)

    def require_structured(self):
        if not self.structured_ok:
            raise Skip("server does not support structured replies")

    def require_base_allocation(self):
        self.require_structured()
        if "base:allocation" not in self.context_names:
            raise Skip("server does not offer base:allocation")

    # --- sizes -------------------------------------------------------------------------------
    @property
    def minimum(self):
        return self.info.minimum

    @property
    def preferred(self):
        return self.info.preferred

    @property
    def max_payload(self):
        """Largest payload the checks send: the advertised maximum, capped at 32 MiB and the size."""
        return min(self.info.maximum, 1 << 25, self.info.size)

    def align(self, value):
        return value - value % self.minimum

    def new_tag(self, name):
        self.tag_counter += 1
        return "%s#%d" % (name, self.tag_counter)

    # --- connections -------------------------------------------------------------------------
    def wire(self):
        return Wire(self.target)

    def negotiate(self, wire, structured=True, contexts=("base:allocation",), block_size=True,
                  export=None):
        """Options after the client flags: structured replies, contexts, then GO."""
        export = self.export if export is None else export
        negotiated = False
        selected = []
        if structured:
            negotiated = send_option(wire, P.OPT_STRUCTURED_REPLY)[-1].rtype == P.REP_ACK
            if negotiated and contexts:
                replies = send_option(wire, P.OPT_SET_META_CONTEXT, P.meta_data(export, contexts))
                if replies[-1].rtype == P.REP_ACK:
                    selected = meta_contexts(replies)
                    ids = [i for i, _ in selected]
                    if len(set(ids)) != len(ids):
                        raise Violation("SET_META_CONTEXT gave two contexts the same id (MUST be unique)")
        replies = send_option(wire, P.OPT_GO, P.go_data(export, (P.INFO_BLOCK_SIZE,) if block_size else ()))
        if replies[-1].rtype != P.REP_ACK:
            raise Fail("NBD_OPT_GO for %r refused: %s" % (export, replies[-1].describe()))
        info = export_info(replies, "NBD_OPT_GO")
        return Session(wire, info, negotiated, selected, export)

    def session(self, structured=True, contexts=("base:allocation",), block_size=True, cflags=None):
        wire = self.wire()
        try:
            start(wire, cflags)
            return self.negotiate(wire, structured, contexts, block_size)
        except BaseException:
            wire.close()
            raise

    def mode_session(self, mode, contexts=()):
        """A session in the given reply mode; skips structured when the server lacks it."""
        if mode == "structured":
            self.require_structured()
        return self.session(structured=(mode == "structured"), contexts=contexts)

    # --- reply expectations ------------------------------------------------------------------
    def absorb(self, reply):
        for text in reply.notes:
            self.should(text)

    def expect_ok(self, reply, what):
        self.absorb(reply)
        if not reply.ok:
            raise Fail("%s failed: %s" % (what, reply.describe()))
        return reply

    def expect_data(self, reply, expected, what):
        self.expect_ok(reply, what)
        got = bytes(reply.data)
        if got != expected:
            first = next(i for i in range(min(len(got), len(expected)) + 1)
                         if i == min(len(got), len(expected)) or got[i] != expected[i])
            raise Fail("%s returned different bytes (first difference at +%d of %d)"
                       % (what, first, len(expected)))

    def still_works(self, session, what):
        """A valid READ after an error: the connection must still be usable."""
        try:
            reply = session.read(0, self.minimum)
        except Closed:
            self.should("%s: server closed the connection afterwards (allowed after a client MUST "
                        "violation; RDR keeps the connection)" % what)
            return False
        self.expect_ok(reply, "READ after %s" % what)
        return True


def probe(ctx):
    """Learn the export name, its size and flags, and what the server supports."""
    with ctx.wire() as wire:
        ctx.hflags = greet(wire)
        wire.send(default_client_flags(ctx.hflags).to_bytes(4, "big"))
        if ctx.export is None:
            ctx.export = pick_export(ctx, wire)
        # Structured replies first, so the flags show NBD_FLAG_SEND_DF when the server has it.
        ctx.structured_ok = send_option(wire, P.OPT_STRUCTURED_REPLY)[-1].rtype == P.REP_ACK
        replies = send_option(wire, P.OPT_INFO, P.go_data(ctx.export, (P.INFO_BLOCK_SIZE,)))
        if replies[-1].rtype != P.REP_ACK:
            raise Fail("NBD_OPT_INFO for %r: %s" % (ctx.export, replies[-1].describe()))
        ctx.info = export_info(replies, "NBD_OPT_INFO")
        if ctx.structured_ok:
            replies = send_option(wire, P.OPT_LIST_META_CONTEXT, P.meta_data(ctx.export, []))
            ctx.context_names = [n for _, n in meta_contexts(replies)]
            if "base:allocation" not in ctx.context_names:
                replies = send_option(wire, P.OPT_LIST_META_CONTEXT,
                                      P.meta_data(ctx.export, ["base:allocation"]))
                ctx.context_names += [n for _, n in meta_contexts(replies)]
        try:
            send_option(wire, P.OPT_ABORT)
        except Closed:
            pass  # hs.abort judges the reply to NBD_OPT_ABORT


def pick_export(ctx, wire):
    """The server's default export ("") when it has one, else the first name NBD_OPT_LIST gives."""
    replies = send_option(wire, P.OPT_INFO, P.go_data("", ()))
    if replies[-1].rtype == P.REP_ACK:
        return ""
    names = list_exports(send_option(wire, P.OPT_LIST))
    if not names:
        raise Fail("the server has no default export and NBD_OPT_LIST names none; pass --export")
    print("# no default export (%s); using %r, the first NBD_OPT_LIST entry"
          % (replies[-1].describe(), names[0]))
    return names[0]


def describe_flags(flags):
    names = [n for n, f in (("READ_ONLY", P.TF_READ_ONLY), ("SEND_FLUSH", P.TF_SEND_FLUSH),
                            ("SEND_FUA", P.TF_SEND_FUA), ("SEND_TRIM", P.TF_SEND_TRIM),
                            ("SEND_WRITE_ZEROES", P.TF_SEND_WRITE_ZEROES), ("SEND_DF", P.TF_SEND_DF),
                            ("CAN_MULTI_CONN", P.TF_CAN_MULTI_CONN), ("SEND_CACHE", P.TF_SEND_CACHE),
                            ("SEND_FAST_ZERO", P.TF_SEND_FAST_ZERO)) if flags & f]
    return " ".join(names) or "none"


def run_one(ctx, func, variant):
    """Run a check; return (status, reason)."""
    ctx.notes = []
    try:
        func(ctx) if variant is None else func(ctx, variant)
    except Skip as why:
        return "SKIP", str(why)
    except Fail as why:
        return "FAIL", str(why)
    except Violation as why:
        return "FAIL", "spec violation: %s" % why
    except Closed as why:
        return "FAIL", "unexpected close: %s" % why
    except Timeout as why:
        return "FAIL", "timeout: %s" % why
    except OSError as why:
        return "FAIL", "connection error: %s" % why
    except Exception:
        return "FAIL", "script error (a bug in this script):\n" + traceback.format_exc()
    if ctx.args.strict and any(kind == "SHOULD" for kind, _ in ctx.notes):
        return "FAIL", "strict mode: a SHOULD is not followed (see NOTE lines)"
    return "PASS", ""


def run_all(ctx, pattern):
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    notes = 0
    selected = [c for c in CHECKS if pattern is None or re.search(pattern, c[0])]
    for index, (name, func, variant) in enumerate(selected):
        status, reason = run_one(ctx, func, variant)
        counts[status] += 1
        for kind, text in ctx.notes:
            notes += 1
            print("NOTE %s: %s%s" % (name, "" if kind == "INFO" else "(SHOULD) ", text))
        print(status + " " + name + (": " + reason if reason else ""))
        sys.stdout.flush()
        gone = status == "FAIL" and server_gone(ctx)
        if gone:
            counts["FAIL"] += 1
            print("FAIL server-gone: after %s the server no longer completes a greeting (%s); the "
                  "remaining %d checks were not run" % (name, gone, len(selected) - index - 1))
            break
    print("%d passed, %d failed, %d skipped, %d notes" % (counts["PASS"], counts["FAIL"], counts["SKIP"], notes))
    return counts["FAIL"] == 0


def server_gone(ctx):
    """Why a new connection cannot even get the greeting, or "" when the server is still there."""
    try:
        with ctx.wire() as wire:
            greet(wire)
        return ""
    except (OSError, Closed, Timeout, Violation) as err:
        return str(err) or type(err).__name__


__all__ = ["Fail", "Skip", "check", "MODES", "Ctx", "probe", "run_all", "describe_flags"]
