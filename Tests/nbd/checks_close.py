"""Broken messages that end one connection: the server drops that client, nobody else.

The spec lets either side hard-disconnect on a MUST violation and forbids any other disconnect
("The client and the server MUST NOT initiate any form of disconnect other than in one of the
above circumstances"), so a witness connection opened before MUST keep working.
"""

import random

import nbdproto as P
from harness import Fail, check
from nbdhandshake import start
from nbdwire import Closed, Timeout
from checks_io import spot


def witness_survives(ctx, witness, what):
    try:
        reply = witness.read(0, ctx.minimum)
    except (Closed, Timeout) as err:
        raise Fail("another connection stopped working after %s (%s); the server MUST NOT disconnect "
                   "a client that broke no rule" % (what, err))
    ctx.expect_ok(reply, "READ on another connection after %s" % what)
    with ctx.session(structured=False, contexts=()) as fresh:
        ctx.expect_ok(fresh.read(0, ctx.minimum), "READ on a new connection after %s" % what)


def victim_dropped(ctx, wire, what):
    closed, data = wire.wait_close()
    if not closed:
        ctx.should("%s: connection still open after %gs (a server cannot resynchronise; RDR closes it)"
                   % (what, ctx.timeout))
    elif data:
        ctx.note("%s: server sent %d bytes before closing" % (what, len(data)))


def bad_request(ctx, blob, what):
    with ctx.session(structured=False, contexts=()) as witness:
        victim = ctx.session(contexts=())
        try:
            victim.wire.send(blob)
            victim_dropped(ctx, victim.wire, what)
        finally:
            victim.broken = True
            victim.close()
        witness_survives(ctx, witness, what)


@check("close.bad-request-magic")
def bad_request_magic(ctx):
    for magic in (P.HISTORIC_REQUEST_MAGIC, 0x21E41C71, 0):
        blob = P.request(P.CMD_READ, 0, ctx.minimum, 1, magic=magic)
        bad_request(ctx, blob, "a request with magic 0x%08x" % magic)


@check("close.garbage")
def garbage(ctx):
    blob = random.Random(ctx.args.seed).randbytes(4096)
    bad_request(ctx, blob, "4 KiB of garbage instead of a request")


def truncated(ctx, blob, what, handshake_only=False):
    with ctx.session(structured=False, contexts=()) as witness:
        with ctx.wire() as wire:
            start(wire)
            if not handshake_only:
                ctx.negotiate(wire, structured=False, contexts=()).broken = True
            wire.send(blob)
        witness_survives(ctx, witness, what)


@check("close.truncated-request")
def truncated_request(ctx):
    header = P.request(P.CMD_READ, 0, ctx.minimum, 1)
    truncated(ctx, header[:10], "10 bytes of a request header, then close")


@check("close.truncated-write")
def truncated_write(ctx):
    ctx.require_writable()
    length = max(64 * 1024, ctx.minimum)
    offset = spot(ctx, 12, length)
    blob = P.request(P.CMD_WRITE, offset, length, 1, payload=bytes(1000))
    truncated(ctx, blob, "a WRITE header and 1000 of its %d payload bytes, then close" % length)


@check("close.truncated-option")
def truncated_option(ctx):
    blob = P.option_header(P.OPT_GO, 100) + b"\0\0\0\x04ab"
    truncated(ctx, blob, "an option declaring 100 bytes with 6 sent, then close", handshake_only=True)


@check("close.half-closed-option")
def half_closed_option(ctx):
    """The client shuts down its sending side mid-option: the server must notice EOF and close."""
    with ctx.session(structured=False, contexts=()) as witness:
        with ctx.wire() as wire:
            start(wire)
            wire.send(P.option_header(P.OPT_GO, 100) + b"\0\0")
            wire.shutdown_write()
            closed, _ = wire.wait_close()
            if not closed:
                raise Fail("server kept a half-closed connection open for %gs waiting for option bytes "
                           "that can never come" % ctx.timeout)
        witness_survives(ctx, witness, "a half-closed connection")
