"""Fixed newstyle handshake: greeting, client flags, options and their replies, export info.

Each reader checks the MUSTs of the reply it decodes (magic, echoed option, lengths, strings) and
raises Violation otherwise, so every check that negotiates gets those checks for free.
"""

import struct

import nbdproto as P
from nbdwire import Violation, check_string

# No option reply the spec defines carries more than a few strings of at most 4096 bytes.
MAX_OPTION_REPLY = 1 << 20

# Which non-final reply types each option may send before its ACK or error.
INTERMEDIATE = {
    P.OPT_LIST: (P.REP_SERVER,),
    P.OPT_INFO: (P.REP_INFO,),
    P.OPT_GO: (P.REP_INFO,),
    P.OPT_LIST_META_CONTEXT: (P.REP_META_CONTEXT,),
    P.OPT_SET_META_CONTEXT: (P.REP_META_CONTEXT,),
}


def greet(wire):
    """S: NBDMAGIC, IHAVEOPT, 16-bit handshake flags. Returns the flags."""
    magic, second, hflags = struct.unpack(">QQH", wire.recv_exact(18, "the greeting"))
    if magic != P.NBDMAGIC:
        raise Violation("greeting starts with 0x%016x, not NBDMAGIC" % magic)
    if second != P.IHAVEOPT:
        raise Violation("second greeting magic is 0x%x, not IHAVEOPT (oldstyle server?)" % second)
    return hflags


def default_client_flags(hflags):
    """FIXED_NEWSTYLE always; NO_ZEROES only when the server offered it (client MUST NOT otherwise)."""
    return P.FLAG_C_FIXED_NEWSTYLE | (P.FLAG_C_NO_ZEROES if hflags & P.FLAG_NO_ZEROES else 0)


def start(wire, cflags=None):
    """Greeting plus client flags. Returns the server's handshake flags."""
    hflags = greet(wire)
    wire.send(struct.pack(">I", default_client_flags(hflags) if cflags is None else cflags))
    return hflags


class OptionReply:
    def __init__(self, opt, rtype, data):
        self.opt = opt
        self.rtype = rtype
        self.data = data

    @property
    def is_error(self):
        return bool(self.rtype & P.REP_ERR_BIT)

    @property
    def final(self):
        return self.rtype == P.REP_ACK or self.is_error

    def describe(self):
        text = P.reply_name(self.rtype)
        if self.is_error and self.data:
            text += " (%s)" % self.data.decode("utf-8", "replace")
        return text


def read_option_reply(wire, opt):
    magic, ropt, rtype, length = struct.unpack(">QIII", wire.recv_exact(20, "an option reply"))
    if magic != P.OPTION_REPLY_MAGIC:
        raise Violation("option reply magic is 0x%x, not 0x3e889045565a9" % magic)
    if ropt != opt:
        raise Violation("reply names option %d but the client sent %s" % (ropt, P.option_name(opt)))
    if length > MAX_OPTION_REPLY:
        raise Violation("%s reply declares %d bytes of data" % (P.reply_name(rtype), length))
    data = wire.recv_exact(length, "option reply data") if length else b""
    reply = OptionReply(opt, rtype, data)
    if reply.is_error and data:
        check_string(data, "error message of %s" % P.reply_name(rtype))
    if rtype == P.REP_ACK and data:
        raise Violation("NBD_REP_ACK to %s carries %d bytes; ACK has no data" % (P.option_name(opt), length))
    return reply


def send_option(wire, opt, data=b""):
    """Send one option and read every reply up to the final ACK or error."""
    wire.send(P.option(opt, data))
    return read_replies(wire, opt)


def read_replies(wire, opt):
    replies = []
    while True:
        reply = read_option_reply(wire, opt)
        replies.append(reply)
        if reply.final:
            return replies
        if reply.rtype not in INTERMEDIATE.get(opt, ()):
            raise Violation("%s is not a reply %s may send" % (P.reply_name(reply.rtype), P.option_name(opt)))


def list_exports(replies):
    """Names from NBD_REP_SERVER replies (name length MUST be no larger than reply length - 4)."""
    names = []
    for r in replies:
        if r.rtype != P.REP_SERVER:
            continue
        if len(r.data) < 4:
            raise Violation("NBD_REP_SERVER of %d bytes has no name length" % len(r.data))
        (n,) = struct.unpack(">I", r.data[:4])
        if n > len(r.data) - 4:
            raise Violation("NBD_REP_SERVER name length %d exceeds the reply (%d)" % (n, len(r.data)))
        names.append(check_string(r.data[4:4 + n], "export name in NBD_REP_SERVER"))
        if len(r.data) > 4 + n:
            check_string(r.data[4 + n:], "export description in NBD_REP_SERVER")
    return names


def meta_contexts(replies):
    """[(id, name)] from NBD_REP_META_CONTEXT replies; names MUST be 'namespace:leaf'."""
    found = []
    for r in replies:
        if r.rtype != P.REP_META_CONTEXT:
            continue
        if len(r.data) < 5:
            raise Violation("NBD_REP_META_CONTEXT of %d bytes has no name" % len(r.data))
        (ctx_id,) = struct.unpack(">I", r.data[:4])
        name = check_string(r.data[4:], "metadata context name")
        namespace = name.split(":", 1)[0]
        if ":" not in name or not namespace or any(c.isspace() for c in namespace):
            raise Violation("metadata context %r is not namespace:leaf-name" % name)
        found.append((ctx_id, name))
    return found


class ExportInfo:
    """What NBD_REP_INFO replies (or NBD_OPT_EXPORT_NAME) told about an export."""

    def __init__(self):
        self.size = None
        self.flags = None
        self.block_size = None  # (minimum, preferred, maximum) when the server sent it
        self.name = None
        self.description = None
        self.items = []  # (type, data) as received, to compare INFO with GO
        self.notes = []  # SHOULD-level oddities seen while decoding

    @property
    def minimum(self):
        return self.block_size[0] if self.block_size else 1

    @property
    def preferred(self):
        return self.block_size[1] if self.block_size else 4096

    @property
    def maximum(self):
        """Advertised maximum payload, or the spec's interoperable default of 32 MiB."""
        return self.block_size[2] if self.block_size else 1 << 25

    def has(self, flag):
        return bool(self.flags & flag)


INFO_LENGTHS = {P.INFO_EXPORT: 12, P.INFO_BLOCK_SIZE: 14}


def export_info(replies, what):
    """Decode the NBD_REP_INFO replies of an INFO/GO that ended with ACK."""
    info = ExportInfo()
    seen = set()
    for r in replies:
        if r.rtype != P.REP_INFO:
            continue
        if len(r.data) < 2:
            raise Violation("NBD_REP_INFO of %d bytes has no information type" % len(r.data))
        (itype,) = struct.unpack(">H", r.data[:2])
        need = INFO_LENGTHS.get(itype)
        if need is not None and len(r.data) != need:
            raise Violation("NBD_INFO type %d has length %d; it MUST be %d" % (itype, len(r.data), need))
        if itype in seen:
            info.notes.append("NBD_INFO type %d sent twice (SHOULD only appear once)" % itype)
        seen.add(itype)
        info.items.append((itype, r.data))
        decode_info_item(info, itype, r.data)
    if info.size is None:
        raise Violation("%s ended with NBD_REP_ACK without NBD_INFO_EXPORT (MUST send it)" % what)
    return info


def decode_info_item(info, itype, data):
    if itype == P.INFO_EXPORT:
        info.size, info.flags = struct.unpack(">QH", data[2:])
    elif itype == P.INFO_BLOCK_SIZE:
        info.block_size = struct.unpack(">III", data[2:])
    elif itype == P.INFO_NAME:
        info.name = check_string(data[2:], "NBD_INFO_NAME")
    elif itype == P.INFO_DESCRIPTION:
        info.description = check_string(data[2:], "NBD_INFO_DESCRIPTION")
    # Unknown information types MUST be ignored by the client.


def block_size_problems(block_size):
    """MUST-level problems with advertised (minimum, preferred, maximum); empty when fine."""
    minimum, preferred, maximum = block_size
    problems = []
    if minimum == 0 or minimum & (minimum - 1) or minimum > 65536:
        problems.append("minimum block size %d MUST be a power of 2 no larger than 65536" % minimum)
    floor = max(minimum, 512)
    if preferred & (preferred - 1) or preferred < floor:
        problems.append("preferred block size %d MUST be a power of 2 of at least %d" % (preferred, floor))
    if maximum < preferred:
        problems.append("maximum payload %d MUST be at least the preferred block size %d" % (maximum, preferred))
    return problems


def transmission_flag_problems(flags, structured):
    """MUST-level problems with a transmission flags field."""
    problems = []
    if not flags & P.TF_HAS_FLAGS:
        problems.append("NBD_FLAG_HAS_FLAGS MUST always be 1")
    if flags & P.TF_SEND_DF and not structured:
        problems.append("NBD_FLAG_SEND_DF MUST be clear when structured replies were not negotiated")
    if flags & P.TF_SEND_FAST_ZERO and not flags & P.TF_SEND_WRITE_ZEROES:
        problems.append("NBD_FLAG_SEND_FAST_ZERO MUST be 0 when NBD_FLAG_SEND_WRITE_ZEROES is not set")
    return problems
