"""Transmission requests of mockserver.py: validation, the commands, replies, and the faults."""

import struct

import nbdproto as P

MAX_PAYLOAD = 4 << 20
# Which command flags each command accepts (FUA is valid for every command when advertised).
KNOWN_FLAGS = {P.CMD_READ: P.CF_FUA | P.CF_DF, P.CMD_WRITE: P.CF_FUA, P.CMD_FLUSH: P.CF_FUA,
               P.CMD_TRIM: P.CF_FUA, P.CMD_CACHE: P.CF_FUA,
               P.CMD_WRITE_ZEROES: P.CF_FUA | P.CF_NO_HOLE | P.CF_FAST_ZERO,
               P.CMD_BLOCK_STATUS: P.CF_FUA | P.CF_REQ_ONE}
WRITES = (P.CMD_WRITE, P.CMD_TRIM, P.CMD_WRITE_ZEROES)
RANGED = (P.CMD_READ, P.CMD_WRITE, P.CMD_TRIM, P.CMD_CACHE, P.CMD_WRITE_ZEROES, P.CMD_BLOCK_STATUS)


def simple(conn, cookie, error, data=b""):
    if conn.fault("wrong-cookie"):
        cookie ^= 1
    conn.send(struct.pack(">IIQ", P.SIMPLE_REPLY_MAGIC, error, cookie) + data)


def chunk(conn, cookie, rtype, payload, done):
    flags = P.REPLY_FLAG_DONE if done else 0
    conn.send(struct.pack(">IHHQI", P.STRUCTURED_REPLY_MAGIC, flags, rtype, cookie, len(payload)) + payload)


def error(conn, cookie, code, message):
    if conn.structured:
        text = message.encode()
        chunk(conn, cookie, P.RT_ERROR, struct.pack(">IH", code, len(text)) + text, True)
    else:
        simple(conn, cookie, code)


def refusal(conn, flags, cmd, offset, length):
    """(error, message) when the request must be refused, else None."""
    size = len(conn.store.data)
    if cmd not in KNOWN_FLAGS:
        return P.EINVAL, "unknown command"
    allowed = KNOWN_FLAGS[cmd] if conn.structured or cmd != P.CMD_READ else P.CF_FUA
    if flags & ~allowed and not (cmd == P.CMD_CACHE and conn.fault("cache-unknown-flag-ok")):
        return P.EINVAL, "unknown flag"
    if cmd in RANGED and offset + length > size:
        return (P.ENOSPC if cmd in (P.CMD_WRITE, P.CMD_WRITE_ZEROES) else P.EINVAL), "past the end"
    if cmd in (P.CMD_READ, P.CMD_WRITE) and length > MAX_PAYLOAD:
        return P.EINVAL, "over the maximum payload"
    if conn.server.read_only and cmd in WRITES and not conn.fault("read-only-writes"):
        return P.EPERM, "read-only export"
    if cmd == P.CMD_BLOCK_STATUS and (conn.context is None or not conn.structured):
        return P.EINVAL, "no metadata context selected"
    return None


def handle(conn, flags, cmd, cookie, offset, length, payload):
    refused = refusal(conn, flags, cmd, offset, length)
    if refused:
        error(conn, cookie, *refused)
    elif cmd == P.CMD_READ:
        read(conn, cookie, offset, length, flags)
    elif cmd == P.CMD_WRITE:
        if conn.fault("private-cache"):
            conn.private.append((offset, payload))
        elif not conn.fault("lost-write"):
            conn.store.write(offset, payload)
        simple(conn, cookie, 0)
    elif cmd in (P.CMD_TRIM, P.CMD_WRITE_ZEROES):
        if not (cmd == P.CMD_WRITE_ZEROES and conn.fault("zeroes-not-zero")):
            conn.store.zero(offset, length, punch=not flags & P.CF_NO_HOLE)
        simple(conn, cookie, 0)
    elif cmd == P.CMD_BLOCK_STATUS:
        block_status(conn, cookie, offset, length, flags)
    else:  # FLUSH, CACHE: memory needs nothing
        simple(conn, cookie, 0)


def contents(conn, offset, length):
    data = bytearray(conn.store.data[offset:offset + length])
    for at, bytes_ in conn.private:  # this connection's own unpublished writes
        lo, hi = max(at, offset), min(at + len(bytes_), offset + length)
        if lo < hi:
            data[lo - offset:hi - offset] = bytes_[lo - at:hi - at]
    return bytes(data)


def read(conn, cookie, offset, length, flags):
    data = contents(conn, offset, length)
    if not conn.structured or conn.fault("simple-read-in-structured"):
        simple(conn, cookie, 0, data)
        return
    half = length // 2
    if length >= 2 and (conn.fault("overlapping-chunks") or (flags & P.CF_DF and conn.fault("df-ignored"))):
        overlap = 1 if conn.fault("overlapping-chunks") else 0
        chunk(conn, cookie, P.RT_OFFSET_DATA, struct.pack(">Q", offset) + data[:half + overlap], False)
        chunk(conn, cookie, P.RT_OFFSET_DATA, struct.pack(">Q", offset + half) + data[half:], True)
    elif conn.fault("short-read") and length >= 2:
        chunk(conn, cookie, P.RT_OFFSET_DATA, struct.pack(">Q", offset) + data[:half], True)
    elif flags & P.CF_DF or length == 0:
        if length:
            chunk(conn, cookie, P.RT_OFFSET_DATA, struct.pack(">Q", offset) + data, True)
        else:
            chunk(conn, cookie, P.RT_NONE, b"", True)
    else:
        read_chunks(conn, cookie, offset, data)


def read_chunks(conn, cookie, offset, data):
    """Runs of zero 4 KiB blocks as holes, the rest as data, then a final NONE chunk."""
    pos, end = 0, len(data)
    while pos < end:
        step = min(4096 - (offset + pos) % 4096, end - pos)
        zero = not any(data[pos:pos + step])
        nxt = pos + step
        while nxt < end and (not any(data[nxt:nxt + 4096])) == zero:
            nxt = min(nxt + 4096, end)
        if zero:
            chunk(conn, cookie, P.RT_OFFSET_HOLE, struct.pack(">QI", offset + pos, nxt - pos), False)
        else:
            chunk(conn, cookie, P.RT_OFFSET_DATA, struct.pack(">Q", offset + pos) + data[pos:nxt], False)
        pos = nxt
    chunk(conn, cookie, P.RT_NONE, b"", True)


def block_status(conn, cookie, offset, length, flags):
    extents = conn.store.extents(offset, length, conn.fault("zero-flag-on-data"))
    if flags & P.CF_REQ_ONE:
        first_len, first_flags = extents[0]
        extents = [(min(first_len, length), first_flags)]
        if conn.fault("req-one-ignored") and extents[0][0] >= 2:
            half = extents[0][0] // 2
            extents = [(half, first_flags), (extents[0][0] - half, first_flags)]
    body = struct.pack(">I", conn.context) + b"".join(struct.pack(">II", n, f) for n, f in extents)
    if conn.fault("two-status-chunks"):
        chunk(conn, cookie, P.RT_BLOCK_STATUS, body, False)
    chunk(conn, cookie, P.RT_BLOCK_STATUS, body, True)
