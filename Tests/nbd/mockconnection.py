"""One client connection of mockserver.py: handshake, options, requests, and the faults."""

import os
import struct

import nbdproto as P
from mockrequests import MAX_PAYLOAD, handle

EXPORT = "mock"


class Hangup(Exception):
    pass


class Connection:
    def __init__(self, server, sock):
        self.server = server
        self.store = server.store
        self.sock = sock
        self.structured = False
        self.no_zeroes = False
        self.context = None  # the id of base:allocation once selected
        self.private = []  # (offset, bytes) for the private-cache fault

    def fault(self, name):
        return self.server.fault(name)

    def run(self):
        try:
            if self.handshake():
                self.transmission()
        except (Hangup, OSError, struct.error):
            pass
        finally:
            for offset, data in self.private:
                self.store.write(offset, data)
            self.sock.close()

    def recv(self, count):
        buf = bytearray()
        while len(buf) < count:
            chunk = self.sock.recv(count - len(buf))
            if not chunk:
                raise Hangup()
            buf += chunk
        return bytes(buf)

    def send(self, data):
        try:
            if self.fault("global-send-lock"):
                with self.server.send_lock:
                    self.sock.sendall(data)
            else:
                self.sock.sendall(data)
        except OSError:
            if self.fault("exit-on-hangup"):
                os._exit(3)
            raise Hangup()

    # --- handshake ----------------------------------------------------------------------------
    def handshake(self):
        hflags = P.FLAG_NO_ZEROES | (0 if self.fault("no-fixed-newstyle") else P.FLAG_FIXED_NEWSTYLE)
        self.send(struct.pack(">QQH", P.NBDMAGIC, P.IHAVEOPT, hflags))
        (cflags,) = struct.unpack(">I", self.recv(4))
        known = P.FLAG_C_FIXED_NEWSTYLE | P.FLAG_C_NO_ZEROES
        if cflags & ~known and not self.fault("keep-unknown-client-flags"):
            return False
        self.no_zeroes = bool(cflags & P.FLAG_C_NO_ZEROES)
        while True:
            magic, opt, length = struct.unpack(">QII", self.recv(16))
            if magic != P.IHAVEOPT or length > (1 << 20):
                return False
            outcome = self.option(opt, self.recv(length))
            if outcome is not None:
                return outcome

    def reply(self, opt, rtype, data=b""):
        self.send(struct.pack(">QIII", P.OPTION_REPLY_MAGIC, opt, rtype, len(data)) + data)

    def option(self, opt, data):
        """Answer one option; True enters transmission, False closes, None continues."""
        if opt == P.OPT_EXPORT_NAME:
            return self.export_name(data)
        if opt == P.OPT_ABORT:
            if not self.fault("abort-no-reply"):
                self.reply(opt, P.REP_ACK)
            return False
        if opt == P.OPT_LIST:
            if data:
                self.reply(opt, P.REP_ERR_INVALID)
            else:
                self.reply(opt, P.REP_SERVER, struct.pack(">I", len(EXPORT)) + EXPORT.encode())
                self.reply(opt, P.REP_ACK)
        elif opt == P.OPT_STARTTLS:
            self.reply(opt, P.REP_ERR_POLICY, b"no TLS here")
        elif opt in (P.OPT_INFO, P.OPT_GO):
            return self.info(opt, data)
        elif opt == P.OPT_STRUCTURED_REPLY:
            self.structured = self.structured or not data
            self.reply(opt, P.REP_ERR_INVALID if data else P.REP_ACK)
        elif opt in (P.OPT_LIST_META_CONTEXT, P.OPT_SET_META_CONTEXT):
            self.meta(opt, data)
        else:
            self.reply(opt, P.REP_ERR_INVALID if self.fault("unknown-option-invalid") else P.REP_ERR_UNSUP)
        return None

    def export_name(self, data):
        if data.decode("utf-8", "replace") not in ("", EXPORT):
            return False
        head = struct.pack(">QH", len(self.store.data), self.server.flags(self.structured))
        padded = not self.no_zeroes or self.fault("padding-with-no-zeroes")
        self.send(head + (bytes(124) if padded else b""))
        return True

    def info(self, opt, data):
        if len(data) < 6 or struct.unpack(">I", data[:4])[0] > len(data) - 6:
            self.reply(opt, P.REP_ERR_INVALID, b"malformed")
            return None
        (n,) = struct.unpack(">I", data[:4])
        name = data[4:4 + n].decode("utf-8", "replace")
        (count,) = struct.unpack(">H", data[4 + n:6 + n])
        if len(data) != 6 + n + 2 * count:
            self.reply(opt, P.REP_ERR_INVALID, b"malformed")
            return None
        if name not in ("", EXPORT):
            self.reply(opt, P.REP_ERR_UNKNOWN, b"no such export")
            return None
        infos = struct.unpack(">%dH" % count, data[6 + n:])
        flags = self.server.flags(self.structured, for_go=(opt == P.OPT_GO))
        extra = b"\0\0" if self.fault("info-export-length") else b""
        self.reply(opt, P.REP_INFO, struct.pack(">HQH", P.INFO_EXPORT, len(self.store.data), flags) + extra)
        if P.INFO_BLOCK_SIZE in infos:
            self.reply(opt, P.REP_INFO, struct.pack(">HIII", P.INFO_BLOCK_SIZE, 1, 4096, MAX_PAYLOAD))
        self.reply(opt, P.REP_ACK)
        return True if opt == P.OPT_GO else None

    def meta(self, opt, data):
        queries = parse_meta(data)
        if queries is None and not self.fault("bad-query-length-ack"):
            self.reply(opt, P.REP_ERR_INVALID, b"malformed query")
            return
        if not self.structured:
            self.reply(opt, P.REP_ERR_INVALID, b"structured replies first")
            return
        queries = queries or []
        if opt == P.OPT_LIST_META_CONTEXT:
            hit = not queries or any(q in ("base:", "base:allocation") for q in queries)
            ctx_id = 0
        else:
            hit = "base:allocation" in queries
            ctx_id = 1
            self.context = ctx_id if hit else None
        if hit:
            self.reply(opt, P.REP_META_CONTEXT, struct.pack(">I", ctx_id) + b"base:allocation")
        self.reply(opt, P.REP_ACK)

    # --- transmission -------------------------------------------------------------------------
    def transmission(self):
        while True:
            magic, flags, cmd, cookie, offset, length = struct.unpack(">IHHQQI", self.recv(28))
            if magic != P.REQUEST_MAGIC:
                if self.fault("exit-on-bad-magic"):
                    os._exit(4)
                return
            payload = self.recv(length) if cmd == P.CMD_WRITE else b""
            if cmd == P.CMD_DISC:
                if self.fault("no-close-after-disc"):
                    while self.sock.recv(4096):
                        pass
                return
            handle(self, flags, cmd, cookie, offset, length, payload)


def parse_meta(data):
    """Queries of a META_CONTEXT option, or None when a length runs past the data."""
    try:
        (n,) = struct.unpack(">I", data[:4])
        pos = 4 + n
        (count,) = struct.unpack(">I", data[pos:pos + 4])
        pos += 4
        queries = []
        for _ in range(count):
            (qlen,) = struct.unpack(">I", data[pos:pos + 4])
            if pos + 4 + qlen > len(data):
                return None
            queries.append(data[pos + 4:pos + 4 + qlen].decode("utf-8", "replace"))
            pos += 4 + qlen
        return queries if pos == len(data) else None
    except struct.error:
        return None
