"""Stress: many connections opened and dropped, a client that stops reading, DISC in flight."""

import time

import nbdproto as P
from harness import Fail, check
from nbdhandshake import greet, start
from nbdsession import drain_until_closed
from nbdwire import Closed, Timeout
from checks_io import KIB, MIB, read_range, spot, write_pattern


def drop_during_handshake(wire, step):
    """0: connect only; 1: after the greeting; 2: after the client flags; 3: mid-option."""
    if step >= 1:
        greet(wire)
    if step >= 2:
        wire.send(P.FLAG_C_FIXED_NEWSTYLE.to_bytes(4, "big"))
    if step >= 3:
        wire.send(P.option_header(P.OPT_GO, 64) + b"\0\0\0")


def drop_after_go(ctx, wire, step):
    """0: right after GO; 1: READs in flight; 2: after DISC; 3: after a completed READ."""
    start(wire)
    s = ctx.negotiate(wire, structured=bool(step % 2) and ctx.structured_ok, contexts=())
    if step == 1:
        for _ in range(4):
            s.submit(P.CMD_READ, 0, ctx.minimum)
    elif step == 2:
        wire.send(P.request(P.CMD_DISC, 0, 0, 1))
    elif step == 3:
        ctx.expect_ok(s.read(0, ctx.minimum), "READ")


@check("stress.hangup-in-flight")
def hangup_in_flight(ctx):
    """Clients that queue READs and hang up without reading the replies (a hard disconnect the
    spec allows a client only on a MUST violation, but one a server must survive)."""
    rounds = 50 if ctx.quick else 200
    read = P.request(P.CMD_READ, 0, max(min(64 * KIB, ctx.max_payload), ctx.minimum), 1)
    with ctx.session(structured=False, contexts=()) as witness:
        for i in range(rounds):
            try:
                with ctx.wire() as wire:
                    start(wire)
                    ctx.negotiate(wire, structured=bool(i % 2) and ctx.structured_ok, contexts=())
                    wire.send(read * 16)  # one cookie for all: nobody reads the replies
            except (OSError, Closed, Timeout) as err:
                raise Fail("connection %d of %d failed after earlier clients hung up with READs in flight: %s"
                           % (i + 1, rounds, err))
        ctx.expect_ok(witness.read(0, ctx.minimum), "READ on a connection opened before the hang-ups")


DROPS = ["closed at once", "GO then closed", "closed after the greeting", "GO, READs in flight, closed",
         "closed after the client flags", "GO, DISC", "closed mid-option", "GO, READ, closed"]


@check("stress.connect-drop")
def connect_drop(ctx):
    """1,000 connections (100 with --quick): half dropped mid-handshake, half after GO."""
    total = 100 if ctx.quick else 1000
    began = time.monotonic()
    with ctx.session(structured=False, contexts=()) as witness:
        for i in range(total):
            try:
                wire = ctx.wire()
            except OSError as err:
                raise Fail("connection %d of %d could not connect: %s" % (i + 1, total, err))
            with wire:
                if i % 2 == 0:
                    try:
                        drop_during_handshake(wire, (i // 2) % 4)
                    except Closed:
                        pass
                else:
                    try:
                        drop_after_go(ctx, wire, (i // 2) % 4)
                    except (Closed, Timeout, OSError) as err:
                        raise Fail("connection %d of %d (%s) failed: %s" % (i + 1, total, DROPS[i % 8], err))
        ctx.expect_ok(witness.read(0, ctx.minimum), "READ on a connection opened before the churn")
    with ctx.session() as fresh:
        ctx.expect_ok(fresh.read(0, ctx.minimum), "READ on a new connection after the churn")
    ctx.note("%d connections in %.1fs" % (total, time.monotonic() - began))


@check("stress.stalled-reader")
def stalled_reader(ctx):
    """A client pipelines reads and stops reading replies; the server must neither crash nor stop
    serving others, and must deliver every reply once the client reads again."""
    total = (8 if ctx.quick else 32) * MIB
    length = max(min(64 * KIB, ctx.max_payload), ctx.minimum)
    count = max(1, min(total, ctx.info.size) // length)
    stall = 1.0 if ctx.quick else 3.0
    with ctx.session(structured=False, contexts=()) as staller, ctx.session(contexts=()) as other:
        expected = read_range(ctx, staller, 0, count * length, "reference")

        def meanwhile():
            time.sleep(stall / 2)
            for _ in range(3):
                try:
                    reply = other.read(0, ctx.minimum)
                except Timeout as err:
                    raise Fail("another connection got no reply while one client was not reading its "
                               "replies (%s)" % err)
                ctx.expect_ok(reply, "READ on another connection during the stall")
                time.sleep(stall / 6)

        replies = staller.pipeline([(P.CMD_READ, i * length, length) for i in range(count)], meanwhile)
        for i, reply in enumerate(replies):
            want = expected[i * length:(i + 1) * length]
            ctx.expect_data(reply, want, "READ %d of %d after the stall" % (i + 1, count))
    ctx.note("%d READs of %d bytes in flight, %.0fs without reading" % (count, length, stall))


@check("stress.disc-in-flight")
def disc_in_flight(ctx):
    """NBD_CMD_DISC after requests still in flight: the server MUST handle them all, then close."""
    writable = ctx.may_write
    length, count = max(64 * KIB, ctx.minimum), 16
    base = spot(ctx, 13, count * length)
    tag = ctx.new_tag("disc")
    places = [base + i * length for i in range(count)]
    datas = [ctx.patterns.make(tag, at, length) for at in places]
    s = ctx.session(structured=False, contexts=())
    try:
        ops = [(P.CMD_WRITE, at, length, 0, d) if writable else (P.CMD_READ, at, length)
               for at, d in zip(places, datas)]
        encoded = [s.encode(*op) for op in ops]
        s.send(b"".join(blob for _, blob in encoded) + P.request(P.CMD_DISC, 0, 0, 1))
        try:
            replies = {r.cookie: r for r in drain_until_closed(s)}
        except Timeout:
            raise Fail("server did not close the connection within %gs of NBD_CMD_DISC (MUST close)" % ctx.timeout)
    finally:
        s.broken = True
        s.close()
    refused = sorted(set(r.describe() for r in replies.values() if not r.ok))
    if refused:
        ctx.should("requests sent before NBD_CMD_DISC were refused with %s instead of performed (the "
                   "server MUST handle all outstanding requests)" % ", ".join(refused))
    if len(replies) < count:
        ctx.note("%d of %d requests sent before NBD_CMD_DISC got no reply before the close"
                 % (count - len(replies), count))
    if writable:
        disc_writes_landed(ctx, places, datas, [replies.get(c) for c, _ in encoded])


def disc_writes_landed(ctx, places, datas, replies):
    """A WRITE answered with success MUST be there; one refused or unanswered is a NOTE if absent."""
    missing = 0
    with ctx.session(structured=False, contexts=()) as s:
        for at, data, reply in zip(places, datas, replies):
            got = bytes(ctx.expect_ok(s.read(at, len(data)), "READ after DISC").data)
            if got == data:
                continue
            if reply is not None and reply.ok:
                raise Fail("a WRITE at %d answered with success before the DISC is not on the export" % at)
            missing += 1
    if missing:
        ctx.should("%d WRITEs sent before NBD_CMD_DISC were not performed" % missing)


@check("server.alive")
def alive(ctx):
    with ctx.session() as s:
        ctx.expect_ok(s.read(0, ctx.minimum), "READ on a new connection at the end")
        if ctx.may_write:
            offset = spot(ctx, 14, 4 * KIB)
            data = write_pattern(ctx, s, offset, 4 * KIB, "alive")
            ctx.expect_data(s.read(offset, 4 * KIB), data, "READ after WRITE at the end")
