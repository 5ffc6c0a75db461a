"""Handshake checks: greeting, client flags, options and their replies."""

import struct
import threading

import nbdproto as P
from harness import Fail, Skip, check
from nbdhandshake import (ExportInfo, block_size_problems, export_info, greet, list_exports,
                          read_option_reply, send_option, start, transmission_flag_problems)
from nbdsession import Session
from nbdwire import Closed, Timeout

BOGUS_EXPORT = "rdr-conformance-no-such-export"


def opened(ctx, cflags=None):
    wire = ctx.wire()
    try:
        start(wire, cflags)
    except BaseException:
        wire.close()
        raise
    return wire


def next_option_works(ctx, wire, after):
    """Baseline: after an option the server rejects, it MUST NOT fail to parse the next one."""
    replies = send_option(wire, P.OPT_INFO, P.go_data(ctx.export, (P.INFO_BLOCK_SIZE,)))
    if replies[-1].rtype != P.REP_ACK:
        raise Fail("NBD_OPT_INFO after %s failed: %s" % (after, replies[-1].describe()))
    return export_info(replies, "NBD_OPT_INFO")


def abort(wire):
    try:
        send_option(wire, P.OPT_ABORT)
    except (Closed, Timeout):
        pass


def expect_invalid(ctx, wire, opt, data, what):
    """An option the spec says the server SHOULD reject with ERR_INVALID: anything else is a NOTE,
    and unless the server closed, the next option must still work."""
    try:
        final = send_option(wire, opt, data)[-1]
    except Closed:
        ctx.should("%s: server closed (SHOULD answer ERR_INVALID)" % what)
        return
    if final.rtype != P.REP_ERR_INVALID:
        ctx.should("%s answered %s (SHOULD be ERR_INVALID)" % (what, final.describe()))
    next_option_works(ctx, wire, what)
    abort(wire)


def expect_dropped(ctx, wire, why):
    """After client flags the server must refuse, it MUST drop the connection: no option reply."""
    try:
        wire.send(P.option(P.OPT_LIST))
    except Closed:
        return
    closed, data = wire.wait_close()
    if data:
        raise Fail("server answered an option after %s; it MUST drop the connection" % why)
    if not closed:
        raise Fail("connection still open %gs after %s; the server MUST drop it" % (ctx.timeout, why))


@check("hs.greeting")
def greeting(ctx):
    with ctx.wire() as wire:
        hflags = greet(wire)
        if not hflags & P.FLAG_FIXED_NEWSTYLE:
            raise Fail("NBD_FLAG_FIXED_NEWSTYLE not set (fixed newstyle is baseline, MUST)")
        if hflags & ~P.KNOWN_HANDSHAKE_FLAGS:
            raise Fail("handshake flags 0x%04x: the server MUST NOT set flags other than "
                       "FIXED_NEWSTYLE and NO_ZEROES" % hflags)
        if not hflags & P.FLAG_NO_ZEROES:
            ctx.note("server does not offer NBD_FLAG_NO_ZEROES")
        wire.send(struct.pack(">I", P.FLAG_C_FIXED_NEWSTYLE))
        abort(wire)


def go_and_read(ctx, cflags):
    with opened(ctx, cflags) as wire:
        session = ctx.negotiate(wire, structured=False, contexts=())
        with session:
            ctx.expect_ok(session.read(0, ctx.minimum), "READ after GO")


@check("hs.client-flags-fixed")
def client_flags_fixed(ctx):
    go_and_read(ctx, P.FLAG_C_FIXED_NEWSTYLE)


@check("hs.client-flags-no-zeroes")
def client_flags_no_zeroes(ctx):
    if not ctx.hflags & P.FLAG_NO_ZEROES:
        raise Skip("server does not offer NBD_FLAG_NO_ZEROES")
    # GO never pads with zeroes, whatever the flag: a READ right after ACK must parse.
    go_and_read(ctx, P.FLAG_C_FIXED_NEWSTYLE | P.FLAG_C_NO_ZEROES)


@check("hs.client-flags-none")
def client_flags_none(ctx):
    """A plain newstyle client (no FIXED_NEWSTYLE) may only send NBD_OPT_EXPORT_NAME."""
    with opened(ctx, 0) as wire:
        wire.send(P.option(P.OPT_EXPORT_NAME, ctx.export.encode()))
        try:
            head = wire.recv_exact(134, "the NBD_OPT_EXPORT_NAME answer")
        except Closed:
            ctx.should("server closed on a client without NBD_FLAG_C_FIXED_NEWSTYLE (newstyle clients "
                       "send flags 0)")
            return
        size, flags = struct.unpack(">QH", head[:10])
        if any(head[10:]):
            raise Fail("the 124 reserved bytes after NBD_OPT_EXPORT_NAME are not zero")
        check_flags(flags, structured=False)
        simple_read(ctx, wire, size, flags)


def check_flags(flags, structured):
    problems = transmission_flag_problems(flags, structured)
    if problems:
        raise Fail("; ".join(problems))


def simple_read(ctx, wire, size, flags):
    info = export_info_from(size, flags, ctx.info)
    with Session(wire, info, False, (), ctx.export) as session:
        ctx.expect_ok(session.read(0, ctx.minimum), "READ after NBD_OPT_EXPORT_NAME")


def export_info_from(size, flags, probed):
    info = ExportInfo()
    info.size, info.flags, info.block_size = size, flags, probed.block_size
    return info


@check("hs.client-flags-unknown")
def client_flags_unknown(ctx):
    for bit in (1 << 2, 1 << 31):
        with opened(ctx, P.FLAG_C_FIXED_NEWSTYLE | bit) as wire:
            expect_dropped(ctx, wire, "unknown client flag 0x%x" % bit)


@check("hs.client-flags-no-zeroes-unoffered")
def client_flags_no_zeroes_unoffered(ctx):
    if ctx.hflags & P.FLAG_NO_ZEROES:
        raise Skip("server offers NBD_FLAG_NO_ZEROES")
    with opened(ctx, P.FLAG_C_FIXED_NEWSTYLE | P.FLAG_C_NO_ZEROES) as wire:
        expect_dropped(ctx, wire, "NBD_FLAG_C_NO_ZEROES the server did not offer")


@check("hs.unknown-option")
def unknown_option(ctx):
    with opened(ctx) as wire:
        reply = send_option(wire, P.OPT_UNKNOWN, b"\0\0\0\x04")[-1]
        if reply.rtype != P.REP_ERR_UNSUP:
            raise Fail("unknown option answered %s; MUST be NBD_REP_ERR_UNSUP" % reply.describe())
        next_option_works(ctx, wire, "an unknown option")
        abort(wire)


@check("hs.oversized-option")
def oversized_option(ctx):
    """64 MiB of option data: the server may refuse or close, but never go quiet."""
    declared = (16 if ctx.quick else 64) << 20
    with opened(ctx) as wire:
        sent = []

        def sender():
            try:
                wire.send(P.option_header(P.OPT_UNKNOWN, declared))
                piece = bytes(1 << 20)
                for _ in range(declared >> 20):
                    wire.send(piece)
                sent.append(True)
            except (Closed, Timeout, OSError):
                pass

        thread = threading.Thread(target=sender, daemon=True)
        thread.start()
        try:
            reply = read_option_reply(wire, P.OPT_UNKNOWN)
        except Closed:
            thread.join(ctx.timeout)
            ctx.note("server closed the connection on a %d MiB option" % (declared >> 20))
            return
        thread.join(ctx.timeout)
        if not reply.is_error:
            raise Fail("unknown %d MiB option answered %s" % (declared >> 20, reply.describe()))
        if reply.rtype != P.REP_ERR_UNSUP:
            ctx.note("unknown oversized option answered %s" % reply.describe())
        if sent:
            next_option_works(ctx, wire, "an oversized option")
        abort(wire)


@check("hs.starttls")
def starttls(ctx):
    with opened(ctx) as wire:
        reply = send_option(wire, P.OPT_STARTTLS)[-1]
        if reply.rtype == P.REP_ACK:
            raise Skip("server starts TLS; this script does not speak TLS")
        if reply.rtype not in (P.REP_ERR_UNSUP, P.REP_ERR_POLICY, P.REP_ERR_PLATFORM, P.REP_ERR_SHUTDOWN):
            raise Fail("NOTLS server answered NBD_OPT_STARTTLS with %s; MUST be ERR_POLICY, ERR_UNSUP "
                       "or another error the spec permits" % reply.describe())
        next_option_works(ctx, wire, "NBD_OPT_STARTTLS")
        abort(wire)


@check("hs.extended-headers")
def extended_headers(ctx):
    with opened(ctx) as wire:
        reply = send_option(wire, P.OPT_EXTENDED_HEADERS)[-1]
        if reply.rtype == P.REP_ACK:
            ctx.note("server supports extended headers (their transmission format is not tested)")
        elif reply.rtype != P.REP_ERR_UNSUP:
            ctx.note("NBD_OPT_EXTENDED_HEADERS answered %s" % reply.describe())
        next_option_works(ctx, wire, "NBD_OPT_EXTENDED_HEADERS")
        abort(wire)


@check("hs.list")
def list_option(ctx):
    with opened(ctx) as wire:
        replies = send_option(wire, P.OPT_LIST)
        final = replies[-1]
        if final.rtype == P.REP_ERR_UNSUP:
            raise Fail("NBD_OPT_LIST answered ERR_UNSUP (NBD_OPT_LIST is baseline, MUST)")
        if final.is_error:
            ctx.note("NBD_OPT_LIST refused: %s" % final.describe())
        else:
            names = list_exports(replies)
            ctx.note("exports: %s" % (", ".join(repr(n) for n in names) or "none listed"))
        next_option_works(ctx, wire, "NBD_OPT_LIST")
        abort(wire)


@check("hs.list-with-data")
def list_with_data(ctx):
    with opened(ctx) as wire:
        expect_invalid(ctx, wire, P.OPT_LIST, b"junk", "NBD_OPT_LIST with data")


@check("hs.info")
def info_option(ctx):
    with opened(ctx) as wire:
        info = next_option_works(ctx, wire, "the greeting")
        check_flags(info.flags, structured=False)
        if info.block_size is None:
            ctx.note("no NBD_INFO_BLOCK_SIZE although requested (defaults apply: 1 / 4096 / 32 MiB)")
        else:
            problems = block_size_problems(info.block_size)
            if problems:
                raise Fail("; ".join(problems))
            minimum, _, maximum = info.block_size
            if info.size % minimum:
                ctx.should("export size %d is not a multiple of the minimum block size %d" % (info.size, minimum))
            if maximum < (1 << 20) <= info.size:
                ctx.should("maximum payload %d SHOULD be at least 1 MiB" % maximum)
        plain = send_option(wire, P.OPT_INFO, P.go_data(ctx.export, ()))
        if plain[-1].rtype != P.REP_ACK:
            raise Fail("NBD_OPT_INFO without information requests failed: %s" % plain[-1].describe())
        if export_info(plain, "NBD_OPT_INFO").size != info.size:
            raise Fail("two NBD_OPT_INFO replies give different export sizes")
        abort(wire)


@check("hs.info-then-go")
def info_then_go(ctx):
    """INFO then GO with the same parameters MUST give the same information."""
    with opened(ctx) as wire:
        data = P.go_data(ctx.export, (P.INFO_BLOCK_SIZE,))
        first = send_option(wire, P.OPT_INFO, data)
        if first[-1].rtype != P.REP_ACK:
            raise Fail("NBD_OPT_INFO failed: %s" % first[-1].describe())
        info = export_info(first, "NBD_OPT_INFO")
        second = send_option(wire, P.OPT_GO, data)
        if second[-1].rtype != P.REP_ACK:
            raise Fail("NBD_OPT_GO after a successful INFO failed: %s" % second[-1].describe())
        go_info = export_info(second, "NBD_OPT_GO")
        if sorted(info.items) != sorted(go_info.items):
            raise Fail("NBD_OPT_GO sent different information than the NBD_OPT_INFO just before "
                       "(MUST be the same): %r vs %r" % (sorted(info.items), sorted(go_info.items)))
        with Session(wire, go_info, False, (), ctx.export) as session:
            ctx.expect_ok(session.read(0, ctx.minimum), "READ after GO")


@check("hs.go-flags", ("simple", "structured"))
def go_flags(ctx, mode):
    with ctx.mode_session(mode) as session:
        check_flags(session.info.flags, session.structured)
        if session.info.size != ctx.info.size:
            raise Fail("GO reports %d bytes, INFO %d" % (session.info.size, ctx.info.size))
        for item in session.info.notes:
            ctx.should(item)
        ctx.expect_ok(session.read(0, ctx.minimum), "READ after GO")


def unknown_export(ctx, opt):
    with opened(ctx) as wire:
        final = send_option(wire, opt, P.go_data(BOGUS_EXPORT, (P.INFO_BLOCK_SIZE,)))[-1]
        if final.rtype == P.REP_ACK:
            raise Skip("server accepts the made-up export name %r (it serves any name)" % BOGUS_EXPORT)
        if final.rtype == P.REP_ERR_TLS_REQD:
            raise Fail("NOTLS server answered ERR_TLS_REQD (MUST NOT)")
        if final.rtype != P.REP_ERR_UNKNOWN:
            ctx.note("unknown export answered %s rather than ERR_UNKNOWN" % final.describe())
        next_option_works(ctx, wire, "%s for an unknown export" % P.option_name(opt))
        abort(wire)


@check("hs.go-unknown-export")
def go_unknown_export(ctx):
    unknown_export(ctx, P.OPT_GO)


@check("hs.info-unknown-export")
def info_unknown_export(ctx):
    unknown_export(ctx, P.OPT_INFO)


@check("hs.abort")
def abort_option(ctx):
    for data in (b"", b"junk"):
        with opened(ctx) as wire:
            try:
                final = send_option(wire, P.OPT_ABORT, data)[-1]
            except Closed:
                raise Fail("server closed without answering NBD_OPT_ABORT (MUST reply NBD_REP_ACK)")
            if data and final.rtype != P.REP_ACK:
                ctx.should("NBD_OPT_ABORT with data answered %s (SHOULD ignore the data)" % final.describe())
            elif not data and final.rtype != P.REP_ACK:
                raise Fail("NBD_OPT_ABORT answered %s; MUST be NBD_REP_ACK" % final.describe())


@check("hs.export-name")
def export_name(ctx):
    with opened(ctx, P.FLAG_C_FIXED_NEWSTYLE) as wire:
        wire.send(P.option(P.OPT_EXPORT_NAME, ctx.export.encode()))
        head = wire.recv_exact(134, "the NBD_OPT_EXPORT_NAME answer")
        size, flags = struct.unpack(">QH", head[:10])
        if any(head[10:]):
            raise Fail("the 124 reserved bytes after NBD_OPT_EXPORT_NAME are not zero")
        check_flags(flags, structured=False)
        if size != ctx.info.size:
            ctx.should("NBD_OPT_EXPORT_NAME reports %d bytes, NBD_OPT_INFO %d" % (size, ctx.info.size))
        simple_read(ctx, wire, size, flags)


@check("hs.export-name-no-zeroes")
def export_name_no_zeroes(ctx):
    if not ctx.hflags & P.FLAG_NO_ZEROES:
        raise Skip("server does not offer NBD_FLAG_NO_ZEROES")
    with opened(ctx, P.FLAG_C_FIXED_NEWSTYLE | P.FLAG_C_NO_ZEROES) as wire:
        wire.send(P.option(P.OPT_EXPORT_NAME, ctx.export.encode()))
        size, flags = struct.unpack(">QH", wire.recv_exact(10, "size and flags"))
        wire.send(P.request(P.CMD_READ, 0, ctx.minimum, 7))
        (magic,) = struct.unpack(">I", wire.recv_exact(4, "the READ reply"))
        if magic == 0:
            raise Fail("server sent the 124 zero bytes although NBD_FLAG_C_NO_ZEROES was set (MUST NOT)")
        if magic != P.SIMPLE_REPLY_MAGIC:
            raise Fail("after NBD_OPT_EXPORT_NAME with NO_ZEROES the next bytes are 0x%08x, not a reply" % magic)


@check("hs.export-name-unknown")
def export_name_unknown(ctx):
    with opened(ctx, P.FLAG_C_FIXED_NEWSTYLE) as wire:
        wire.send(P.option(P.OPT_EXPORT_NAME, BOGUS_EXPORT.encode()))
        closed, data = wire.wait_close()
        if len(data) >= 10:
            raise Skip("server accepts the made-up export name %r (it serves any name)" % BOGUS_EXPORT)
        if not closed:
            raise Fail("NBD_OPT_EXPORT_NAME for an unknown export: no close within %gs (the server "
                       "MUST terminate the session)" % ctx.timeout)


@check("hs.structured-reply")
def structured_reply(ctx):
    with opened(ctx) as wire:
        final = send_option(wire, P.OPT_STRUCTURED_REPLY)[-1]
        if final.rtype == P.REP_ERR_UNSUP:
            raise Skip("server does not support structured replies")
        if final.rtype != P.REP_ACK:
            raise Fail("NBD_OPT_STRUCTURED_REPLY answered %s" % final.describe())
        next_option_works(ctx, wire, "NBD_OPT_STRUCTURED_REPLY")
        abort(wire)


@check("hs.structured-reply-with-data")
def structured_reply_with_data(ctx):
    ctx.require_structured()
    with opened(ctx) as wire:
        expect_invalid(ctx, wire, P.OPT_STRUCTURED_REPLY, b"junk", "NBD_OPT_STRUCTURED_REPLY with data")
