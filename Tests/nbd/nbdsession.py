"""Transmission phase: requests with unique cookies, replies matched by cookie in any order.

The reply reader validates every simple reply and structured chunk against the MUSTs of the spec
(cookie echo, chunk types valid for the command, bounds, overlap, coverage, DONE rules, one
block-status chunk per context) and raises Violation on the first breach.
"""

import random
import struct
import threading

import nbdproto as P
from nbdwire import Closed, Violation, check_string

# Content chunks are bounded by the request; other chunks by this sanity cap before reading them.
MAX_CHUNK = 64 << 20
ERROR_OFFSET_COMMANDS = (P.CMD_READ, P.CMD_WRITE, P.CMD_TRIM, P.CMD_CACHE, P.CMD_WRITE_ZEROES,
                         P.CMD_BLOCK_STATUS)


class Reply:
    """A finished reply: error (0 on success), data for READ, extents for BLOCK_STATUS."""

    def __init__(self, req):
        self.cookie, self.cmd, self.flags, self.offset, self.length = req
        self.error = 0
        self.message = ""
        self.simple = False
        self.data = None
        self.chunks = []  # (type, offset, length) of content chunks, in arrival order
        self.extents = {}  # context id -> [(length, flags)]
        self.covered = []  # (start, end) of content and error-offset chunks
        self.notes = []

    @property
    def ok(self):
        return self.error == 0

    def describe(self):
        if self.ok:
            return "success"
        text = P.error_name(self.error)
        return text + (" (%s)" % self.message if self.message else "")


class Session:
    """A connection in transmission phase."""

    def __init__(self, wire, info, structured, contexts, export):
        self.wire = wire
        self.info = info
        self.structured = structured
        self.contexts = dict(contexts)  # id -> name
        self.export = export
        self.pending = {}  # cookie -> (cookie, cmd, flags, offset, length)
        self.partial = {}  # cookie -> Reply under construction (structured)
        self.finished = {}  # cookie -> Reply read while waiting for another cookie
        self.broken = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Soft disconnect when the connection is in a known state (the spec's polite way out)."""
        if self.wire.sock is not None and not self.broken and not self.pending:
            try:
                self.wire.send(P.request(P.CMD_DISC, 0, 0, self.new_cookie()))
            except Exception:
                pass
        self.wire.close()

    def new_cookie(self):
        while True:
            cookie = random.getrandbits(64)
            if cookie not in self.pending and cookie not in self.finished:
                return cookie

    def encode(self, cmd, offset, length, flags=0, payload=b"", magic=P.REQUEST_MAGIC):
        """Register a request as in flight and return (cookie, bytes to send)."""
        cookie = self.new_cookie()
        if cmd != P.CMD_DISC:
            self.pending[cookie] = (cookie, cmd, flags, offset, length)
        return cookie, P.request(cmd, offset, length, cookie, flags, payload, magic)

    def submit(self, cmd, offset, length, flags=0, payload=b""):
        cookie, blob = self.encode(cmd, offset, length, flags, payload)
        self.send(blob)
        return cookie

    def send(self, blob):
        try:
            self.wire.send(blob)
        except Exception:
            self.broken = True
            raise

    def call(self, cmd, offset, length, flags=0, payload=b""):
        return self.receive(self.submit(cmd, offset, length, flags, payload))

    def read(self, offset, length, flags=0):
        return self.call(P.CMD_READ, offset, length, flags)

    def write(self, offset, data, flags=0):
        return self.call(P.CMD_WRITE, offset, len(data), flags, data)

    def flush(self):
        return self.call(P.CMD_FLUSH, 0, 0)

    def trim(self, offset, length, flags=0):
        return self.call(P.CMD_TRIM, offset, length, flags)

    def zero(self, offset, length, flags=0):
        return self.call(P.CMD_WRITE_ZEROES, offset, length, flags)

    def block_status(self, offset, length, flags=0):
        return self.call(P.CMD_BLOCK_STATUS, offset, length, flags)

    def receive(self, cookie=None):
        """The reply for `cookie` (or the next one to finish), reading other replies meanwhile."""
        while True:
            if cookie is None and self.finished:
                return self.finished.pop(next(iter(self.finished)))
            if cookie is not None and cookie in self.finished:
                return self.finished.pop(cookie)
            try:
                done = self.read_message()
            except Exception:
                self.broken = True
                raise
            if done is not None:
                self.finished[done.cookie] = done

    def pipeline(self, ops, before_reading=None):
        """Send every op from a helper thread while replies are read here, so neither side can
        deadlock on full socket buffers. `before_reading`, when given, runs after sending has begun
        and before any reply is read (a client that stalls). Returns the replies in op order."""
        encoded = [self.encode(*op) for op in ops]
        failure = []

        def sender():
            try:
                for _, blob in encoded:
                    self.wire.send(blob)
            except Exception as err:  # reported after the reader finishes or fails
                failure.append(err)

        thread = threading.Thread(target=sender, daemon=True)
        thread.start()
        try:
            if before_reading is not None:
                before_reading()
            replies = {}
            for _ in encoded:
                reply = self.receive()
                replies[reply.cookie] = reply
        finally:
            thread.join(self.wire.timeout)
        if failure:
            self.broken = True
            raise failure[0]
        return [replies[c] for c, _ in encoded]

    def request_of(self, cookie):
        req = self.pending.get(cookie)
        if req is None:
            raise Violation("reply carries cookie 0x%016x, which no request in flight used "
                            "(MUST echo the request's cookie)" % cookie)
        return req

    def read_message(self):
        """Read one simple reply or structured chunk; return the Reply if it completed."""
        (magic,) = struct.unpack(">I", self.wire.recv_exact(4, "a reply"))
        if magic == P.SIMPLE_REPLY_MAGIC:
            return self.read_simple()
        if magic == P.STRUCTURED_REPLY_MAGIC:
            return self.read_chunk()
        if magic == P.EXTENDED_REPLY_MAGIC:
            raise Violation("extended reply magic, but extended headers were never negotiated")
        raise Violation("reply magic 0x%08x is neither simple nor structured" % magic)

    def read_simple(self):
        error, cookie = struct.unpack(">IQ", self.wire.recv_exact(12, "a simple reply header"))
        req = self.request_of(cookie)
        if self.structured and req[1] == P.CMD_READ:
            raise Violation("simple reply to NBD_CMD_READ after structured replies were negotiated "
                            "(MUST NOT use a simple reply for NBD_CMD_READ)")
        if cookie in self.partial:
            raise Violation("simple reply for a cookie whose structured reply was not finished")
        del self.pending[cookie]
        reply = Reply(req)
        reply.simple = True
        reply.error = error
        if error and error not in P.ERROR_NAMES:
            reply.notes.append("error value %d is not one the spec defines" % error)
        if error == 0 and req[1] == P.CMD_READ:
            reply.data = self.wire.recv_exact(req[4], "READ data")
        return reply

    def read_chunk(self):
        if not self.structured:
            raise Violation("structured reply chunk, but structured replies were not negotiated")
        flags, rtype, cookie, length = struct.unpack(">HHQI", self.wire.recv_exact(16, "a chunk header"))
        req = self.request_of(cookie)
        limit = req[4] + 8 if rtype == P.RT_OFFSET_DATA else MAX_CHUNK
        if length > limit:
            raise Violation("%s chunk declares %d bytes for a %d-byte request"
                            % (chunk_name(rtype), length, req[4]))
        payload = self.wire.recv_exact(length, "chunk payload") if length else b""
        reply = self.partial.setdefault(cookie, Reply(req))
        if flags & ~P.REPLY_FLAG_DONE:
            reply.notes.append("chunk flags 0x%x set bits no extension negotiated" % flags)
        apply_chunk(self, reply, flags, rtype, payload)
        if not flags & P.REPLY_FLAG_DONE:
            return None
        del self.partial[cookie]
        del self.pending[cookie]
        finish(self, reply)
        return reply


def chunk_name(rtype):
    names = {P.RT_NONE: "NONE", P.RT_OFFSET_DATA: "OFFSET_DATA", P.RT_OFFSET_HOLE: "OFFSET_HOLE",
             P.RT_BLOCK_STATUS: "BLOCK_STATUS", P.RT_ERROR: "ERROR", P.RT_ERROR_OFFSET: "ERROR_OFFSET"}
    return "NBD_REPLY_TYPE_" + names.get(rtype, "0x%x" % rtype)


def apply_chunk(session, reply, flags, rtype, payload):
    if rtype == P.RT_NONE:
        if payload:
            raise Violation("NBD_REPLY_TYPE_NONE with %d bytes; length MUST be 0" % len(payload))
        if not flags & P.REPLY_FLAG_DONE:
            raise Violation("NBD_REPLY_TYPE_NONE without NBD_REPLY_FLAG_DONE (MUST be set)")
    elif rtype in (P.RT_OFFSET_DATA, P.RT_OFFSET_HOLE):
        content_chunk(session, reply, rtype, payload)
    elif rtype == P.RT_BLOCK_STATUS:
        status_chunk(session, reply, payload)
    elif rtype & P.RT_ERROR_BIT:
        error_chunk(reply, rtype, payload)
    else:
        raise Violation("unknown chunk type %d without the error bit (client MUST hard disconnect)" % rtype)


def content_chunk(session, reply, rtype, payload):
    name = chunk_name(rtype)
    if reply.cmd != P.CMD_READ:
        raise Violation("%s in reply to %s; it is valid only for NBD_CMD_READ" % (name, P.command_name(reply.cmd)))
    if rtype == P.RT_OFFSET_DATA:
        if len(payload) < 9:
            raise Violation("OFFSET_DATA chunk of %d bytes; length MUST be at least 9" % len(payload))
        (offset,) = struct.unpack(">Q", payload[:8])
        size = len(payload) - 8
        if session.info.block_size and size > session.info.maximum:
            raise Violation("OFFSET_DATA carries %d bytes, more than the advertised maximum payload %d"
                            % (size, session.info.maximum))
    else:
        if len(payload) != 12:
            raise Violation("OFFSET_HOLE chunk of %d bytes; length MUST be exactly 12" % len(payload))
        offset, size = struct.unpack(">QI", payload)
        if size == 0:
            raise Violation("OFFSET_HOLE with hole size 0 (MUST be nonzero)")
    start, end = offset, offset + size
    if start < reply.offset or end > reply.offset + reply.length:
        raise Violation("%s covers [%d, %d), outside the request [%d, %d)"
                        % (name, start, end, reply.offset, reply.offset + reply.length))
    for a, b in reply.covered:
        if start < b and a < end:
            raise Violation("%s [%d, %d) overlaps an earlier chunk [%d, %d)" % (name, start, end, a, b))
    reply.covered.append((start, end))
    reply.chunks.append((rtype, start, size))
    if reply.flags & P.CF_DF and len(reply.chunks) > 1:
        raise Violation("%d content chunks for a READ with NBD_CMD_FLAG_DF (MUST send at most one)"
                        % len(reply.chunks))
    if reply.data is None:
        reply.data = bytearray(reply.length)
    if rtype == P.RT_OFFSET_DATA:
        reply.data[start - reply.offset:end - reply.offset] = payload[8:]


def status_chunk(session, reply, payload):
    if reply.cmd != P.CMD_BLOCK_STATUS:
        raise Violation("BLOCK_STATUS chunk in reply to %s" % P.command_name(reply.cmd))
    if len(payload) < 12 or (len(payload) - 4) % 8:
        raise Violation("BLOCK_STATUS chunk of %d bytes; length MUST be 4 + a positive multiple of 8"
                        % len(payload))
    (ctx_id,) = struct.unpack(">I", payload[:4])
    if ctx_id not in session.contexts:
        raise Violation("BLOCK_STATUS chunk for context id %d, which was never selected" % ctx_id)
    if ctx_id in reply.extents:
        raise Violation("two BLOCK_STATUS chunks for context %s (MUST be exactly one per context)"
                        % session.contexts[ctx_id])
    extents = [struct.unpack(">II", payload[i:i + 8]) for i in range(4, len(payload), 8)]
    if any(length == 0 for length, _ in extents):
        raise Violation("block status descriptor of length 0 (MUST be nonzero)")
    if reply.flags & P.CF_REQ_ONE:
        if len(extents) != 1:
            raise Violation("%d descriptors with NBD_CMD_FLAG_REQ_ONE (MUST be exactly one)" % len(extents))
        if extents[0][0] > reply.length:
            raise Violation("REQ_ONE descriptor of %d bytes exceeds the %d requested (MUST NOT)"
                            % (extents[0][0], reply.length))
    elif sum(length for length, _ in extents[:-1]) >= reply.length:
        raise Violation("the first %d descriptors already cover the request (sum of the first N-1 "
                        "MUST be less than the requested length)" % (len(extents) - 1))
    reply.extents[ctx_id] = extents


def error_chunk(reply, rtype, payload):
    fixed = 14 if rtype == P.RT_ERROR_OFFSET else 6
    if len(payload) < fixed:
        raise Violation("%s chunk of %d bytes; length MUST be at least %d"
                        % (chunk_name(rtype), len(payload), fixed))
    error, msglen = struct.unpack(">IH", payload[:6])
    if error == 0:
        raise Violation("%s with error 0 (MUST be nonzero)" % chunk_name(rtype))
    if msglen > len(payload) - fixed:
        raise Violation("error message length %d does not fit the %d-byte chunk" % (msglen, len(payload)))
    message = check_string(payload[6:6 + msglen], "error chunk message")
    if rtype == P.RT_ERROR_OFFSET:
        if reply.cmd not in ERROR_OFFSET_COMMANDS:
            raise Violation("ERROR_OFFSET in reply to %s" % P.command_name(reply.cmd))
        (offset,) = struct.unpack(">Q", payload[6 + msglen:14 + msglen])
        if not reply.offset <= offset < reply.offset + max(reply.length, 1):
            raise Violation("ERROR_OFFSET at %d lies outside the request" % offset)
    if error not in P.ERROR_NAMES:
        reply.notes.append("error value %d is not one the spec defines" % error)
    if reply.error == 0:
        reply.error, reply.message = error, message


def finish(session, reply):
    """Checks that need the whole reply: coverage of a successful READ, one chunk per context."""
    if reply.error:
        return
    if reply.cmd == P.CMD_READ:
        covered = sum(b - a for a, b in reply.covered)
        if covered != reply.length:
            raise Violation("successful structured READ covers %d of %d bytes (MUST cover the whole "
                            "request)" % (covered, reply.length))
        if reply.data is None:
            reply.data = bytearray(reply.length)
    if reply.cmd == P.CMD_BLOCK_STATUS:
        missing = [n for i, n in session.contexts.items() if i not in reply.extents]
        if missing:
            raise Violation("successful BLOCK_STATUS without a chunk for %s (MUST be exactly one per "
                            "selected context)" % ", ".join(missing))


def drain_until_closed(session):
    """Read replies until the server closes; return them. Raises Timeout if it never closes."""
    replies = []
    try:
        while True:
            done = session.read_message()
            if done is not None:
                replies.append(done)
    except Closed:
        session.broken = True
        return replies
