"""Invalid requests answered with an error, after which the connection keeps working.

The spec lets a server hard-disconnect a client that breaks a MUST, so a disconnect here is a
NOTE (a FAIL with --strict); the error values are SHOULDs. What always fails: a reply that breaks
the wire format, a success where the spec says MUST error, and a server that stops serving.
"""

import nbdproto as P
from harness import MODES, Fail, Skip, check
from checks_io import spot
from nbdwire import Closed

U64 = 1 << 64


def refused(ctx, s, what, cmd, offset, length, flags=0, payload=b"", want=(P.EINVAL,), must_fail=False):
    """Send one invalid request; returns False when the server closed the connection."""
    names = " or ".join(P.error_name(e) for e in want)
    try:
        reply = s.call(cmd, offset, length, flags, payload)
    except Closed:
        ctx.should("%s: server closed the connection (allowed after a client MUST violation; SHOULD "
                   "answer %s)" % (what, names))
        return False
    ctx.absorb(reply)
    if reply.ok and must_fail:
        raise Fail("%s succeeded; the server MUST fail it" % what)
    if reply.ok:
        ctx.should("%s succeeded (SHOULD fail with %s)" % (what, names))
    elif reply.error not in want:
        ctx.should("%s failed with %s (SHOULD be %s)" % (what, reply.describe(), names))
    return ctx.still_works(s, what)


def each_case(ctx, mode, cases, contexts=()):
    """Run cases on one connection, opening a new one whenever the server closed the last."""
    s = ctx.mode_session(mode, contexts)
    try:
        for one in cases:
            if not refused(ctx, s, **one):
                s.close()
                s = ctx.mode_session(mode, contexts)
    finally:
        s.close()


def case(what, cmd, offset, length, flags=0, payload=b"", want=(P.EINVAL,), must_fail=False):
    return dict(what=what, cmd=cmd, offset=offset, length=length, flags=flags, payload=payload,
                want=want, must_fail=must_fail)


def past_end(ctx, cmd, name, want):
    size, m = ctx.info.size, ctx.minimum
    payload = (lambda n: bytes(n)) if cmd == P.CMD_WRITE else (lambda n: b"")
    return [case("%s straddling the end" % name, cmd, size - m, 2 * m, payload=payload(2 * m), want=want),
            case("%s wholly past the end" % name, cmd, size, m, payload=payload(m), want=want),
            case("%s whose offset + length wraps past 2^64" % name, cmd, U64 - m, 2 * m,
                 payload=payload(2 * m), want=want)]


@check("err.read-past-end", MODES)
def read_past_end(ctx, mode):
    each_case(ctx, mode, past_end(ctx, P.CMD_READ, "READ", (P.EINVAL,)))


@check("err.write-past-end", MODES)
def write_past_end(ctx, mode):
    ctx.require_writable()
    each_case(ctx, mode, past_end(ctx, P.CMD_WRITE, "WRITE", (P.ENOSPC,)))


@check("err.trim-past-end")
def trim_past_end(ctx):
    ctx.require_writable()
    ctx.require_flag(P.TF_SEND_TRIM, "NBD_FLAG_SEND_TRIM")
    each_case(ctx, "simple", past_end(ctx, P.CMD_TRIM, "TRIM", (P.EINVAL,)))


@check("err.write-zeroes-past-end")
def write_zeroes_past_end(ctx):
    ctx.require_writable()
    ctx.require_flag(P.TF_SEND_WRITE_ZEROES, "NBD_FLAG_SEND_WRITE_ZEROES")
    each_case(ctx, "simple", past_end(ctx, P.CMD_WRITE_ZEROES, "WRITE_ZEROES", (P.ENOSPC,)))


@check("err.block-status-past-end")
def block_status_past_end(ctx):
    ctx.require_base_allocation()
    each_case(ctx, "structured", past_end(ctx, P.CMD_BLOCK_STATUS, "BLOCK_STATUS", (P.EINVAL,)),
              contexts=("base:allocation",))


DOS_FREE = 1 << 25  # payloads up to 2^25 SHOULD NOT be deemed a denial of service


def over_max_length(ctx):
    if ctx.info.block_size is None:
        raise Skip("no advertised maximum payload (the default is only a floor of 32 MiB)")
    maximum = ctx.info.maximum
    if maximum >= (1 << 32) - ctx.minimum:
        raise Skip("server has no fixed maximum payload")
    length = maximum + ctx.minimum
    if length > ctx.info.size:
        raise Skip("export of %d bytes is not larger than the maximum payload" % ctx.info.size)
    return length


def closed_over_max(ctx, what, length):
    text = "%s of %d bytes (over the maximum payload): server closed the connection" % (what, length)
    if length > DOS_FREE:
        ctx.note(text + " (allowed: over 2^25 bytes a server MAY deem the payload a denial of service)")
    else:
        ctx.should(text + " (SHOULD answer an error; payloads up to 2^25 SHOULD NOT be deemed a "
                   "denial of service)")


def over_max(ctx, mode, cmd, offset, length):
    payload = bytes(length) if cmd == P.CMD_WRITE else b""
    with ctx.mode_session(mode) as s:
        try:
            reply = s.call(cmd, offset, length, 0, payload)
        except Closed:
            closed_over_max(ctx, P.command_name(cmd), length)
            return
        ctx.absorb(reply)
        if reply.ok and (mode == "simple" or cmd == P.CMD_WRITE):
            ctx.should("%s of %d bytes, over the maximum payload %d, succeeded"
                       % (P.command_name(cmd), length, ctx.info.maximum))
        elif not reply.ok:
            ctx.note("%s over the maximum payload: %s" % (P.command_name(cmd), reply.describe()))
        ctx.still_works(s, "a %s over the maximum payload" % P.command_name(cmd))


@check("err.read-over-max", MODES)
def read_over_max(ctx, mode):
    """Simple replies: the request must fail; structured: the server MAY split the reply."""
    over_max(ctx, mode, P.CMD_READ, 0, over_max_length(ctx))


@check("err.write-over-max")
def write_over_max(ctx):
    ctx.require_writable()
    over_max(ctx, "simple", P.CMD_WRITE, 0, over_max_length(ctx))


@check("err.unaligned", MODES)
def unaligned(ctx, mode):
    m = ctx.minimum
    if m == 1:
        raise Skip("minimum block size is 1: nothing is unaligned")
    cases = [case("READ at an unaligned offset", P.CMD_READ, m // 2, m),
             case("READ of an unaligned length", P.CMD_READ, 0, m + m // 2)]
    if ctx.may_write:
        at = spot(ctx, 11, 2 * m)
        cases += [case("WRITE at an unaligned offset", P.CMD_WRITE, at + m // 2, m, payload=bytes(m)),
                  case("WRITE of an unaligned length", P.CMD_WRITE, at, m // 2, payload=bytes(m // 2))]
    each_case(ctx, mode, cases)


@check("err.unknown-command", MODES)
def unknown_command(ctx, mode):
    each_case(ctx, mode, [case("unknown command 0x%x" % P.CMD_UNKNOWN, P.CMD_UNKNOWN, 0, 0),
                          case("command 0xffff", 0xFFFF, 0, 0)])


@check("err.unknown-flag", MODES)
def unknown_flag(ctx, mode):
    m = ctx.minimum
    cases = [case("READ with undocumented flag bit 7", P.CMD_READ, 0, m, P.CF_UNKNOWN),
             case("READ with flag bit 15", P.CMD_READ, 0, m, 1 << 15),
             case("READ with NBD_CMD_FLAG_REQ_ONE (a BLOCK_STATUS flag)", P.CMD_READ, 0, m, P.CF_REQ_ONE)]
    if mode == "simple":
        cases.append(case("READ with DF on a connection without structured replies", P.CMD_READ, 0, m, P.CF_DF))
    if ctx.info.has(P.TF_SEND_FLUSH):
        cases.append(case("FLUSH with undocumented flag bit 7", P.CMD_FLUSH, 0, 0, P.CF_UNKNOWN))
    each_case(ctx, mode, cases)


@check("err.block-status-without-context")
def block_status_without_context(ctx):
    m = ctx.minimum
    each_case(ctx, "simple", [case("BLOCK_STATUS without structured replies", P.CMD_BLOCK_STATUS, 0, m)])
    if ctx.structured_ok:
        each_case(ctx, "structured", [case("BLOCK_STATUS with no context selected", P.CMD_BLOCK_STATUS, 0, m)])


@check("err.zero-length", MODES)
def zero_length(ctx, mode):
    """Length 0 is unspecified behaviour, but the server SHOULD NOT disconnect."""
    cmds = [P.CMD_READ]
    if ctx.may_write:
        cmds += [P.CMD_WRITE] + [c for c, f in ((P.CMD_TRIM, P.TF_SEND_TRIM),
                                                (P.CMD_WRITE_ZEROES, P.TF_SEND_WRITE_ZEROES)) if ctx.info.has(f)]
    if ctx.info.has(P.TF_SEND_CACHE):
        cmds.append(P.CMD_CACHE)
    with ctx.mode_session(mode) as s:
        for cmd in cmds:
            try:
                reply = s.call(cmd, 0, 0)
            except Closed:
                ctx.should("%s of length 0: server closed the connection (SHOULD NOT)" % P.command_name(cmd))
                return
            ctx.absorb(reply)
        ctx.still_works(s, "zero-length requests")


@check("err.read-only")
def read_only(ctx):
    """With NBD_FLAG_READ_ONLY every write MUST fail (EPERM SHOULD), and nothing changes."""
    if not ctx.info.has(P.TF_READ_ONLY):
        raise Skip("export is writable")
    m, length = ctx.minimum, max(4096, ctx.minimum)
    cases = [case("WRITE on a read-only export", P.CMD_WRITE, 0, length, payload=b"\xa5" * length,
                  want=(P.EPERM,), must_fail=True),
             case("FUA WRITE on a read-only export", P.CMD_WRITE, 0, m, P.CF_FUA if ctx.info.has(P.TF_SEND_FUA)
                  else 0, payload=b"\x5a" * m, want=(P.EPERM,), must_fail=True)]
    for cmd, flag in ((P.CMD_WRITE_ZEROES, P.TF_SEND_WRITE_ZEROES), (P.CMD_TRIM, P.TF_SEND_TRIM)):
        if ctx.info.has(flag):
            cases.append(case("%s on a read-only export" % P.command_name(cmd), cmd, 0, length,
                              want=(P.EPERM,), must_fail=(cmd == P.CMD_WRITE_ZEROES)))
    with ctx.session(structured=False) as s:
        before = bytes(ctx.expect_ok(s.read(0, length), "READ").data)
    each_case(ctx, "simple", cases)
    with ctx.session(structured=False) as s:
        ctx.expect_data(s.read(0, length), before, "READ after refused writes (nothing may change)")
