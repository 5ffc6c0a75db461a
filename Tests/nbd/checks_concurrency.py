"""Many requests in flight on one connection, and several connections at once."""

import threading

import nbdproto as P
from harness import MODES, Fail, check
from checks_io import KIB, spot, write_pattern

IN_FLIGHT = 64


def block(ctx):
    return max(4 * KIB, ctx.minimum)


@check("io.pipeline", MODES)
def pipeline(ctx, mode):
    """64 requests sent before any reply is read; replies matched by cookie in any order."""
    length = block(ctx)
    base = spot(ctx, 7, 2 * IN_FLIGHT * length)
    places = [base + i * length for i in range(IN_FLIGHT)]
    with ctx.mode_session(mode) as s:
        if ctx.may_write:
            tag = ctx.new_tag("pipeline")
            datas = [ctx.patterns.make(tag, at, length) for at in places]
            for reply in s.pipeline([(P.CMD_WRITE, at, length, 0, d) for at, d in zip(places, datas)]):
                ctx.expect_ok(reply, "pipelined WRITE")
            mixed = mixed_ops(ctx, places, length)
            replies = s.pipeline(mixed)
            for op, reply in zip(mixed, replies):
                ctx.expect_ok(reply, "pipelined %s" % P.command_name(op[0]))
        else:
            datas = [bytes(ctx.expect_ok(s.read(at, length), "READ").data) for at in places]
        replies = s.pipeline([(P.CMD_READ, at, length) for at in places])
        for at, data, reply in zip(places, datas, replies):
            ctx.expect_data(reply, data, "pipelined READ %d@%d" % (length, at))


def mixed_ops(ctx, places, length):
    """Reads of the area just written interleaved with writes to the next area (disjoint)."""
    tag = ctx.new_tag("mixed")
    ops = []
    for i, at in enumerate(places[: IN_FLIGHT // 2]):
        other = places[-1] + (i + 1) * length
        ops.append((P.CMD_READ, at, length))
        ops.append((P.CMD_WRITE, other, length, 0, ctx.patterns.make(tag, other, length)))
    return ops


@check("io.multi-conn")
def multi_conn(ctx):
    """With CAN_MULTI_CONN, a FLUSH (or FUA write) makes data visible on every connection."""
    ctx.require_writable()
    ctx.require_flag(P.TF_CAN_MULTI_CONN, "NBD_FLAG_CAN_MULTI_CONN")
    length = 64 * KIB
    offset = spot(ctx, 8, length)
    with ctx.session() as a, ctx.session(structured=False) as b:
        ctx.expect_ok(b.read(offset, length), "READ to warm any cache of the second connection")
        if ctx.info.has(P.TF_SEND_FLUSH):
            data = write_pattern(ctx, a, offset, length, "multi-conn")
            ctx.expect_ok(a.flush(), "FLUSH")
            ctx.expect_data(b.read(offset, length), data, "READ on connection B after WRITE+FLUSH on A "
                            "(MUST be visible with CAN_MULTI_CONN)")
        if ctx.info.has(P.TF_SEND_FUA):
            data = write_pattern(ctx, b, offset, length, "multi-conn-fua", P.CF_FUA)
            ctx.expect_data(a.read(offset, length), data, "READ on connection A after a FUA WRITE on B "
                            "(MUST be visible with CAN_MULTI_CONN)")


@check("io.parallel-connections")
def parallel_connections(ctx):
    """Four connections working at the same time, each on its own area."""
    writable = ctx.may_write
    failures = []

    def worker(index):
        try:
            mode = ("simple", "structured")[index % 2] if ctx.structured_ok else "simple"
            length = 64 * KIB
            with ctx.mode_session(mode) as s:
                base = spot(ctx, 9 + index, 16 * length)
                for i in range(4 if ctx.quick else 16):
                    at = base + i * length
                    if writable:
                        data = write_pattern(ctx, s, at, length, "parallel")
                        ctx.expect_data(s.read(at, length), data, "READ on connection %d" % index)
                    else:
                        ctx.expect_ok(s.read(at, length), "READ on connection %d" % index)
        except Exception as err:
            failures.append("connection %d: %s: %s" % (index, type(err).__name__, err))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10 * ctx.timeout)
    if failures:
        raise Fail("; ".join(failures))
    if any(t.is_alive() for t in threads):
        raise Fail("a connection did not finish")
