"""Metadata context negotiation: LIST_META_CONTEXT, SET_META_CONTEXT, malformed options."""

import struct

import nbdproto as P
from harness import Fail, Skip, check
from checks_handshake import abort, expect_invalid, next_option_works, opened
from nbdhandshake import meta_contexts, send_option
from nbdwire import Closed, Timeout

UNKNOWN_NAMESPACE = "x-rdr-conformance-unknown:leaf"


def structured_wire(ctx):
    ctx.require_structured()
    wire = opened(ctx)
    if send_option(wire, P.OPT_STRUCTURED_REPLY)[-1].rtype != P.REP_ACK:
        wire.close()
        raise Fail("NBD_OPT_STRUCTURED_REPLY refused on a new connection")
    return wire


def list_contexts(wire, export, queries, opt=P.OPT_LIST_META_CONTEXT):
    replies = send_option(wire, opt, P.meta_data(export, queries))
    return replies[-1], meta_contexts(replies)


@check("hs.list-meta-context")
def list_meta_context(ctx):
    with structured_wire(ctx) as wire:
        final, found = list_contexts(wire, ctx.export, [])
        if final.rtype == P.REP_ERR_UNSUP:
            raise Skip("server does not support metadata contexts")
        if final.is_error:
            raise Fail("NBD_OPT_LIST_META_CONTEXT with no query failed: %s" % final.describe())
        if any(ctx_id for ctx_id, _ in found):
            ctx.should("LIST_META_CONTEXT ids SHOULD be zero: %r" % found)
        ctx.note("contexts: %s" % (", ".join(n for _, n in found) or "none"))
        abort(wire)


@check("hs.list-meta-base-wildcard")
def list_meta_base_wildcard(ctx):
    ctx.require_base_allocation()
    with structured_wire(ctx) as wire:
        final, found = list_contexts(wire, ctx.export, ["base:"])
        names = [n for _, n in found]
        if final.rtype != P.REP_ACK:
            raise Fail("LIST_META_CONTEXT base: failed: %s" % final.describe())
        if "base:allocation" not in names:
            raise Fail("query 'base:' does not list base:allocation (MUST support base: as a wildcard)")
        stray = [n for n in names if not n.startswith("base:")]
        if stray:
            raise Fail("query 'base:' returned contexts outside base: %r" % stray)
        abort(wire)


@check("hs.list-meta-exact")
def list_meta_exact(ctx):
    ctx.require_base_allocation()
    with structured_wire(ctx) as wire:
        final, found = list_contexts(wire, ctx.export, ["base:allocation"])
        if final.rtype != P.REP_ACK or [n for _, n in found] != ["base:allocation"]:
            raise Fail("query base:allocation gave %r, %s" % (found, final.describe()))
        abort(wire)


@check("hs.list-meta-unknown-namespace")
def list_meta_unknown_namespace(ctx):
    ctx.require_structured()
    with structured_wire(ctx) as wire:
        final, found = list_contexts(wire, ctx.export, [UNKNOWN_NAMESPACE])
        if final.rtype == P.REP_ERR_UNSUP:
            raise Skip("server does not support metadata contexts")
        if found or final.rtype != P.REP_ACK:
            raise Fail("query in an unknown namespace gave %r then %s; the server MUST ignore it and "
                       "send a single NBD_REP_ACK" % (found, final.describe()))
        next_option_works(ctx, wire, "a query in an unknown namespace")
        abort(wire)


@check("hs.list-meta-bad-query-length")
def list_meta_bad_query_length(ctx):
    """A query length that runs past the option's data: the server MUST answer ERR_INVALID."""
    ctx.require_structured()
    name = ctx.export.encode()
    data = struct.pack(">I", len(name)) + name + struct.pack(">II", 1, 1000) + b"base:"
    with structured_wire(ctx) as wire:
        try:
            final = send_option(wire, P.OPT_LIST_META_CONTEXT, data)[-1]
        except Closed:
            raise Fail("server closed on a query length beyond the option (MUST answer ERR_INVALID)")
        except Timeout:
            raise Fail("no answer: the server waits for query bytes beyond the option's length")
        if final.rtype == P.REP_ERR_UNSUP:
            raise Skip("server does not support metadata contexts")
        if final.rtype != P.REP_ERR_INVALID:
            raise Fail("query length beyond the option answered %s; MUST be ERR_INVALID" % final.describe())
        next_option_works(ctx, wire, "a malformed LIST_META_CONTEXT")
        abort(wire)


@check("hs.set-meta-context")
def set_meta_context(ctx):
    ctx.require_base_allocation()
    cases = ((["base:allocation"], ["base:allocation"]),
             ([UNKNOWN_NAMESPACE, "base:allocation"], ["base:allocation"]),
             (["base:"], []),  # base: MUST be ignored by SET
             ([], []))  # zero queries MUST select nothing
    for queries, expected in cases:
        with structured_wire(ctx) as wire:
            final, found = list_contexts(wire, ctx.export, queries, P.OPT_SET_META_CONTEXT)
            names = [n for _, n in found]
            if final.rtype != P.REP_ACK or names != expected:
                raise Fail("SET_META_CONTEXT %r selected %r then %s; expected %r then ACK"
                           % (queries, names, final.describe(), expected))
            abort(wire)


@check("hs.set-meta-without-structured")
def set_meta_without_structured(ctx):
    ctx.require_base_allocation()
    with opened(ctx) as wire:
        expect_invalid(ctx, wire, P.OPT_SET_META_CONTEXT, P.meta_data(ctx.export, ["base:allocation"]),
                       "SET_META_CONTEXT before STRUCTURED_REPLY")


@check("hs.qemu-dirty-bitmap")
def qemu_dirty_bitmap(ctx):
    ctx.require_structured()
    with structured_wire(ctx) as wire:
        final, found = list_contexts(wire, ctx.export, ["qemu:"])
        abort(wire)
    bitmaps = [n for _, n in found if n.startswith("qemu:dirty-bitmap:")]
    if not bitmaps:
        raise Skip("server lists no qemu:dirty-bitmap:* context (qemu: gave %s)"
                   % (", ".join(n for _, n in found) or final.describe()))
    for bitmap in bitmaps:
        with ctx.session(contexts=("base:allocation", bitmap)) as session:
            if bitmap not in session.contexts.values():
                raise Fail("listed context %s cannot be selected" % bitmap)
            length = min(ctx.info.size, 1 << 20)
            ctx.expect_ok(session.block_status(0, length), "BLOCK_STATUS with %s" % bitmap)
    ctx.note("bitmaps: %s" % ", ".join(bitmaps))


def malformed(ctx, opt, data, what):
    """An option whose inner lengths run past its declared length. The client broke a MUST, so
    the server may refuse or close, and an ACK is only a NOTE; waiting for bytes that belong to no
    option fails."""
    with opened(ctx) as wire:
        try:
            final = send_option(wire, opt, data)[-1]
        except Closed:
            return
        except Timeout:
            raise Fail("no answer to %s: the server waits for bytes past the option's length" % what)
        if not final.is_error:
            ctx.should("%s answered %s" % (what, final.describe()))
            return
        next_option_works(ctx, wire, what)
        abort(wire)


@check("hs.go-name-length-overrun")
def go_name_length_overrun(ctx):
    data = struct.pack(">I", 100) + b"abcd" + struct.pack(">H", 0)
    malformed(ctx, P.OPT_GO, data, "NBD_OPT_GO with a name length of 100 in 10 bytes")


@check("hs.info-count-overrun")
def info_count_overrun(ctx):
    name = ctx.export.encode()
    data = struct.pack(">I", len(name)) + name + struct.pack(">HH", 5, P.INFO_BLOCK_SIZE)
    malformed(ctx, P.OPT_INFO, data, "NBD_OPT_INFO declaring 5 information requests with 1 present")
