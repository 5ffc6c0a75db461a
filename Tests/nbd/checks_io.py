"""Transmission checks with valid requests: data round trips, flush, FUA, trim, zeroes, block
status, DF, pipelining and several connections. Sizes come from what the server advertises."""

import nbdproto as P
from harness import MODES, Fail, Skip, check
from nbdwire import Closed

KIB = 1024
MIB = 1 << 20


def sizes(ctx):
    wanted = [1, ctx.minimum, 512, 4 * KIB, MIB, ctx.max_payload]
    return sorted({s for s in wanted if s >= ctx.minimum and s % ctx.minimum == 0 and s <= ctx.info.size})


def offsets(ctx, length):
    """Start of the export, an offset off the preferred grid, and the very end."""
    size = ctx.info.size
    odd = ctx.align(size // 3 + 7 * ctx.minimum)
    found = [0, ctx.align(size - length)] + ([] if ctx.quick else [odd])
    return sorted({o for o in found if 0 <= o and o + length <= size})


def spot(ctx, index, length):
    """The index-th of 16 disjoint areas of the export, aligned to 64 KiB when it can be."""
    stride = ctx.info.size // 16
    start = index * stride
    start -= start % min(64 * KIB, max(stride, ctx.minimum))
    if start + length > ctx.info.size or length > stride:
        raise Skip("export too small for a %d-byte area" % length)
    return ctx.align(start)


def write_pattern(ctx, session, offset, length, what, flags=0):
    data = ctx.patterns.make(ctx.new_tag(what), offset, length)
    ctx.expect_ok(session.write(offset, data, flags), "%s: WRITE %d@%d" % (what, length, offset))
    return data


@check("io.read", MODES)
def read_sizes(ctx, mode):
    with ctx.mode_session(mode) as s:
        for length in sizes(ctx):
            for offset in offsets(ctx, length):
                reply = ctx.expect_ok(s.read(offset, length), "READ %d@%d" % (length, offset))
                if len(reply.data) != length:
                    raise Fail("READ %d@%d returned %d bytes" % (length, offset, len(reply.data)))


@check("io.read-simple-equals-structured")
def read_consistent(ctx):
    ctx.require_structured()
    offset = ctx.align(ctx.info.size // 2)
    length = ctx.align(min(MIB, ctx.max_payload, ctx.info.size - offset))
    with ctx.session(structured=False) as plain, ctx.session() as structured:
        first = ctx.expect_ok(plain.read(offset, length), "simple READ").data
        ctx.expect_data(structured.read(offset, length), bytes(first), "structured READ of the same range")


@check("io.write-read", MODES)
def write_read(ctx, mode):
    ctx.require_writable()
    with ctx.mode_session(mode) as s:
        for length in sizes(ctx):
            for offset in offsets(ctx, length):
                data = write_pattern(ctx, s, offset, length, "write-read")
                ctx.expect_data(s.read(offset, length), data, "READ %d@%d after WRITE" % (length, offset))


@check("io.write-inside", MODES)
def write_inside(ctx, mode):
    """A minimum-sized write inside a larger pattern changes exactly its own bytes."""
    ctx.require_writable()
    with ctx.mode_session(mode) as s:
        around = max(8 * KIB, 2 * ctx.minimum)
        offset = spot(ctx, 1, around)
        outer = write_pattern(ctx, s, offset, around, "outer")
        inner_at = offset + ctx.align(around // 2 + 3 * ctx.minimum)
        inner = write_pattern(ctx, s, inner_at, ctx.minimum, "inner")
        pos = inner_at - offset
        expected = outer[:pos] + inner + outer[pos + ctx.minimum:]
        ctx.expect_data(s.read(offset, around), expected, "READ around a %d-byte WRITE" % ctx.minimum)


@check("io.write-fua")
def write_fua(ctx):
    ctx.require_writable()
    ctx.require_flag(P.TF_SEND_FUA, "NBD_FLAG_SEND_FUA")
    with ctx.session() as s:
        offset = spot(ctx, 2, 64 * KIB)
        data = write_pattern(ctx, s, offset, 64 * KIB, "fua", P.CF_FUA)
        ctx.expect_data(s.read(offset, len(data)), data, "READ after FUA WRITE")


@check("io.flush")
def flush(ctx):
    ctx.require_flag(P.TF_SEND_FLUSH, "NBD_FLAG_SEND_FLUSH")
    with ctx.session() as s:
        if ctx.may_write:
            write_pattern(ctx, s, spot(ctx, 2, 4 * KIB), 4 * KIB, "flush")
            ctx.expect_ok(s.flush(), "FLUSH after WRITE")
            return
        reply = s.flush()
        if not reply.ok:
            ctx.note("FLUSH on an export that was not written failed: %s" % reply.describe())


def trim_case(ctx, s, flags):
    length = max(MIB, 4 * ctx.preferred)
    offset = spot(ctx, 3, length)
    data = write_pattern(ctx, s, offset, length, "trim")
    cut_from, cut_len = length // 4, length // 2
    ctx.expect_ok(s.trim(offset + cut_from, cut_len, flags), "TRIM %d@%d" % (cut_len, offset + cut_from))
    got = ctx.expect_ok(s.read(offset, length), "READ after TRIM").data
    # A trimmed range has unspecified contents; the bytes around it must not change.
    if bytes(got[:cut_from]) != data[:cut_from] or bytes(got[cut_from + cut_len:]) != data[cut_from + cut_len:]:
        raise Fail("TRIM changed bytes outside the trimmed range")
    if not any(got[cut_from:cut_from + cut_len]):
        ctx.note("trimmed range reads as zeroes")
    again = write_pattern(ctx, s, offset + cut_from, cut_len, "retrim")
    ctx.expect_data(s.read(offset + cut_from, cut_len), again, "READ after rewriting a trimmed range")


@check("io.trim", MODES)
def trim(ctx, mode):
    ctx.require_writable()
    ctx.require_flag(P.TF_SEND_TRIM, "NBD_FLAG_SEND_TRIM")
    with ctx.mode_session(mode) as s:
        trim_case(ctx, s, 0)
        if ctx.info.has(P.TF_SEND_FUA):
            trim_case(ctx, s, P.CF_FUA)


def zero_case(ctx, s, flags, label):
    """WRITE_ZEROES inside a pattern: zeroes inside, the pattern untouched outside."""
    length = max(MIB, 4 * ctx.preferred)
    offset = spot(ctx, 4, length)
    data = write_pattern(ctx, s, offset, length, "zero")
    z_from = ctx.align(length // 4 + 100)
    z_len = ctx.align(length // 2 + 300) or ctx.minimum
    reply = s.zero(offset + z_from, z_len, flags)
    if flags & P.CF_FAST_ZERO and reply.error == P.ENOTSUP:
        got = ctx.expect_ok(s.read(offset, length), "READ after refused fast zero").data
        if bytes(got) != data:
            ctx.should("a fast zero refused with ENOTSUP changed the export (SHOULD NOT)")
        ctx.note("fast zero refused with ENOTSUP")
        return
    name = ("WRITE_ZEROES " + label).strip()
    ctx.expect_ok(reply, "%s %d@%d" % (name, z_len, offset + z_from))
    expected = data[:z_from] + bytes(z_len) + data[z_from + z_len:]
    ctx.expect_data(s.read(offset, length), expected, "READ after " + name)


@check("io.write-zeroes", MODES)
def write_zeroes(ctx, mode):
    ctx.require_writable()
    ctx.require_flag(P.TF_SEND_WRITE_ZEROES, "NBD_FLAG_SEND_WRITE_ZEROES")
    with ctx.mode_session(mode) as s:
        zero_case(ctx, s, 0, "")
        zero_case(ctx, s, P.CF_NO_HOLE, "NO_HOLE")
        if ctx.info.has(P.TF_SEND_FUA):
            zero_case(ctx, s, P.CF_FUA, "FUA")


@check("io.write-zeroes-fast")
def write_zeroes_fast(ctx):
    ctx.require_writable()
    ctx.require_flag(P.TF_SEND_FAST_ZERO, "NBD_FLAG_SEND_FAST_ZERO")
    with ctx.session() as s:
        zero_case(ctx, s, P.CF_FAST_ZERO, "FAST_ZERO")
        zero_case(ctx, s, P.CF_FAST_ZERO | P.CF_NO_HOLE, "FAST_ZERO|NO_HOLE")


def over_max(ctx, cmd, label):
    """TRIM / WRITE_ZEROES longer than the maximum payload: a valid request (the client MAY send
    it); success, EOVERFLOW or EINVAL are all allowed, a disconnect is not."""
    length = ctx.align(min(ctx.info.size, 2 * ctx.info.maximum))
    if length <= ctx.info.maximum:
        raise Skip("the maximum payload covers the whole export")
    with ctx.session() as s:
        write_pattern(ctx, s, 0, min(MIB, length), label)
        try:
            reply = s.call(cmd, 0, length)
        except Closed:
            raise Fail("server closed on a %s of %d bytes (over the maximum payload, which the client "
                       "MAY request; the server MUST NOT disconnect without a client violation)" % (label, length))
        if reply.ok:
            if cmd == P.CMD_WRITE_ZEROES:
                check_zeroes(ctx, s, 0, length)
        elif reply.error in (P.EOVERFLOW, P.EINVAL):
            ctx.note("%s of %d bytes refused with %s" % (label, length, reply.describe()))
        else:
            raise Fail("%s of %d bytes failed: %s (allowed: success, EOVERFLOW, EINVAL)"
                       % (label, length, reply.describe()))
        ctx.still_works(s, "an over-maximum %s" % label)


def read_range(ctx, s, offset, length, what):
    """READ any length, in pieces no larger than the maximum payload."""
    parts = []
    for at in range(offset, offset + length, ctx.max_payload):
        n = min(ctx.max_payload, offset + length - at)
        parts.append(bytes(ctx.expect_ok(s.read(at, n), "%s: READ %d@%d" % (what, n, at)).data))
    return b"".join(parts)


def check_zeroes(ctx, s, offset, length):
    if any(read_range(ctx, s, offset, length, "after a large WRITE_ZEROES")):
        raise Fail("a successful WRITE_ZEROES of %d bytes does not read back as zeroes" % length)


@check("io.write-zeroes-over-max")
def write_zeroes_over_max(ctx):
    ctx.require_writable()
    ctx.require_flag(P.TF_SEND_WRITE_ZEROES, "NBD_FLAG_SEND_WRITE_ZEROES")
    over_max(ctx, P.CMD_WRITE_ZEROES, "WRITE_ZEROES")


@check("io.trim-over-max")
def trim_over_max(ctx):
    ctx.require_writable()
    ctx.require_flag(P.TF_SEND_TRIM, "NBD_FLAG_SEND_TRIM")
    over_max(ctx, P.CMD_TRIM, "TRIM")


@check("io.cache")
def cache(ctx):
    ctx.require_flag(P.TF_SEND_CACHE, "NBD_FLAG_SEND_CACHE")
    with ctx.session() as s:
        reply = s.call(P.CMD_CACHE, 0, min(MIB, ctx.info.size))
        if not reply.ok:
            ctx.note("CACHE failed: %s" % reply.describe())
        reply = s.call(P.CMD_CACHE, 0, ctx.minimum, P.CF_UNKNOWN)
        if reply.ok:
            raise Fail("CACHE with an unknown flag succeeded; a server advertising SEND_CACHE MUST reject "
                       "command flags it does not recognize")
        ctx.still_works(s, "CACHE with an unknown flag")
