"""BLOCK_STATUS (base:allocation) and READ with NBD_CMD_FLAG_DF."""

import nbdproto as P
from harness import Fail, Skip, check
from checks_io import KIB, MIB, read_range, spot, write_pattern


def status_session(ctx):
    ctx.require_base_allocation()
    return ctx.session(contexts=("base:allocation",))


def base_id(s):
    for ctx_id, name in s.contexts.items():
        if name == "base:allocation":
            return ctx_id
    raise Fail("SET_META_CONTEXT base:allocation selected nothing although LIST offers it")


def extents_of(ctx, s, offset, length, flags=0):
    reply = ctx.expect_ok(s.block_status(offset, length, flags), "BLOCK_STATUS %d@%d" % (length, offset))
    extents = reply.extents[base_id(s)]
    if offset + sum(n for n, _ in extents) > ctx.info.size:
        ctx.should("BLOCK_STATUS at %d describes bytes past the end of the export" % offset)
    return extents


def queries(ctx):
    size = ctx.info.size
    odd = ctx.align(size // 3 + 7 * ctx.minimum)
    last = ctx.align(size - ctx.minimum)
    return [(0, min(size, 64 * MIB)), (odd, min(4 * KIB, size - odd)), (last, ctx.minimum)]


@check("io.block-status")
def block_status(ctx):
    with status_session(ctx) as s:
        for offset, length in queries(ctx):
            extents_of(ctx, s, offset, length)


@check("io.block-status-req-one")
def block_status_req_one(ctx):
    with status_session(ctx) as s:
        for offset, length in queries(ctx):
            # The reply parser enforces: one descriptor, no longer than the request.
            extents_of(ctx, s, offset, length, P.CF_REQ_ONE)


@check("io.block-status-walk")
def block_status_walk(ctx):
    """Walk the whole export: every reply makes progress, as the spec promises."""
    size = ctx.info.size
    offset, requests, extents = 0, 0, 0
    limit = 2000 if ctx.quick else 20000
    with status_session(ctx) as s:
        while offset < size and requests < limit:
            found = extents_of(ctx, s, offset, ctx.align(min(size - offset, 0xFFFFFFFF)))
            offset += sum(n for n, _ in found)
            requests += 1
            extents += len(found)
    ctx.note("%d extents in %d requests%s" % (extents, requests, "" if offset >= size else " (stopped early)"))


def lay_out_sparse(ctx, s, offset, unit):
    """data | zeroes | data, one unit each: returns the bytes the area must read as."""
    first = write_pattern(ctx, s, offset, unit, "sparse")
    if ctx.info.has(P.TF_SEND_WRITE_ZEROES):
        ctx.expect_ok(s.zero(offset + unit, 2 * unit), "WRITE_ZEROES")
    elif ctx.info.has(P.TF_SEND_TRIM):
        ctx.expect_ok(s.write(offset + unit, bytes(2 * unit)), "WRITE of zeroes")
        ctx.expect_ok(s.trim(offset + unit, 2 * unit), "TRIM")  # may or may not punch
        ctx.expect_ok(s.write(offset + unit, bytes(2 * unit)), "WRITE of zeroes")
    else:
        ctx.expect_ok(s.write(offset + unit, bytes(2 * unit)), "WRITE of zeroes")
    last = write_pattern(ctx, s, offset + 3 * unit, unit, "sparse")
    return first + bytes(2 * unit) + last


@check("io.block-status-matches-data")
def block_status_matches_data(ctx):
    """STATE_ZERO means the bytes read as zeroes; data just written is never STATE_ZERO."""
    with status_session(ctx) as s:
        written = ctx.may_write
        if written:
            unit = max(64 * KIB, ctx.minimum)
            offset, length = spot(ctx, 5, 4 * unit), 4 * unit
            expected = lay_out_sparse(ctx, s, offset, unit)
        else:
            offset, length, expected = 0, min(ctx.info.size, (2 if ctx.quick else 8) * MIB), None
        pos = offset
        for extent, flags in extents_of(ctx, s, offset, length):
            end = min(pos + extent, offset + length)
            if flags & P.STATE_ZERO and pos < end:
                if any(read_range(ctx, s, pos, end - pos, "STATE_ZERO extent")):
                    raise Fail("extent [%d, %d) has NBD_STATE_ZERO but does not read as zeroes" % (pos, end))
            pos = end
            if pos >= offset + length:
                break
        if expected is not None:
            ctx.expect_data(s.read(offset, length), expected, "READ of data | zeroes | data")


@check("io.read-df")
def read_df(ctx):
    ctx.require_structured()
    with ctx.session(contexts=()) as s:
        if not s.info.has(P.TF_SEND_DF):
            raise Skip("server does not advertise NBD_FLAG_SEND_DF")
        length = min(64 * KIB, ctx.info.size)
        # The parser fails a DF reply with more than one content chunk.
        ctx.expect_ok(s.read(0, ctx.align(length), P.CF_DF), "READ 64 KiB with DF (MUST be supported)")
        unit = 16 * KIB
        if ctx.may_write and ctx.minimum <= unit:
            offset = spot(ctx, 6, 4 * unit)
            expected = lay_out_sparse(ctx, s, offset, unit)
            ctx.expect_data(s.read(offset, 4 * unit, P.CF_DF), expected, "DF READ of data | zeroes | data")
            plain = s.read(offset, 4 * unit)
            ctx.expect_data(plain, expected, "READ of data | zeroes | data")
            ctx.note("without DF: %s" % ", ".join("%s %d" % ("data" if t == P.RT_OFFSET_DATA else "hole", n)
                                                 for t, _, n in sorted(plain.chunks, key=lambda c: c[1])))
        big = ctx.align(min(MIB, ctx.max_payload))
        reply = s.read(0, big, P.CF_DF)
        if not reply.ok and reply.chunks:
            raise Fail("DF READ refused with %s after a content chunk (MUST NOT send one)" % reply.describe())
        if not reply.ok and reply.error != P.EOVERFLOW:
            raise Fail("DF READ of %d bytes failed: %s" % (big, reply.describe()))
