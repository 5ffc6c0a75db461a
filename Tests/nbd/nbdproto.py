"""NBD wire constants and message encoders, as doc/proto.md of the NBD project defines them.

Only encoding lives here; reading and checking what a server sends is nbdclient.py's job.
Every number is big-endian on the wire ("network byte order" in the spec).
"""

import struct

# Magics
NBDMAGIC = 0x4E42444D41474943  # "NBDMAGIC"
IHAVEOPT = 0x49484156454F5054  # "IHAVEOPT"
OPTION_REPLY_MAGIC = 0x3E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698
STRUCTURED_REPLY_MAGIC = 0x668E33EF
EXTENDED_REPLY_MAGIC = 0x6E8A278C
HISTORIC_REQUEST_MAGIC = 0x12560953  # reserved: must never be accepted as a request

# Handshake flags (server) and client flags
FLAG_FIXED_NEWSTYLE = 1 << 0
FLAG_NO_ZEROES = 1 << 1
FLAG_C_FIXED_NEWSTYLE = 1 << 0
FLAG_C_NO_ZEROES = 1 << 1
KNOWN_HANDSHAKE_FLAGS = FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES

# Options
OPT_EXPORT_NAME = 1
OPT_ABORT = 2
OPT_LIST = 3
OPT_STARTTLS = 5
OPT_INFO = 6
OPT_GO = 7
OPT_STRUCTURED_REPLY = 8
OPT_LIST_META_CONTEXT = 9
OPT_SET_META_CONTEXT = 10
OPT_EXTENDED_HEADERS = 11
OPT_UNKNOWN = 0x07654321  # the value nbd-tester-client uses; no spec assigns it

# Option reply types
REP_ACK = 1
REP_SERVER = 2
REP_INFO = 3
REP_META_CONTEXT = 4
REP_ERR_BIT = 1 << 31
REP_ERR_UNSUP = REP_ERR_BIT + 1
REP_ERR_POLICY = REP_ERR_BIT + 2
REP_ERR_INVALID = REP_ERR_BIT + 3
REP_ERR_PLATFORM = REP_ERR_BIT + 4
REP_ERR_TLS_REQD = REP_ERR_BIT + 5
REP_ERR_UNKNOWN = REP_ERR_BIT + 6
REP_ERR_SHUTDOWN = REP_ERR_BIT + 7
REP_ERR_BLOCK_SIZE_REQD = REP_ERR_BIT + 8
REP_ERR_TOO_BIG = REP_ERR_BIT + 9
REP_ERR_EXT_HEADER_REQD = REP_ERR_BIT + 10

# NBD_INFO types
INFO_EXPORT = 0
INFO_NAME = 1
INFO_DESCRIPTION = 2
INFO_BLOCK_SIZE = 3

# Transmission flags
TF_HAS_FLAGS = 1 << 0
TF_READ_ONLY = 1 << 1
TF_SEND_FLUSH = 1 << 2
TF_SEND_FUA = 1 << 3
TF_ROTATIONAL = 1 << 4
TF_SEND_TRIM = 1 << 5
TF_SEND_WRITE_ZEROES = 1 << 6
TF_SEND_DF = 1 << 7
TF_CAN_MULTI_CONN = 1 << 8
TF_SEND_RESIZE = 1 << 9
TF_SEND_CACHE = 1 << 10
TF_SEND_FAST_ZERO = 1 << 11
TF_BLOCK_STATUS_PAYLOAD = 1 << 12

# Commands
CMD_READ = 0
CMD_WRITE = 1
CMD_DISC = 2
CMD_FLUSH = 3
CMD_TRIM = 4
CMD_CACHE = 5
CMD_WRITE_ZEROES = 6
CMD_BLOCK_STATUS = 7
CMD_UNKNOWN = 0x2A  # no spec or extension assigns it

# Command flags
CF_FUA = 1 << 0
CF_NO_HOLE = 1 << 1
CF_DF = 1 << 2
CF_REQ_ONE = 1 << 3
CF_FAST_ZERO = 1 << 4
CF_UNKNOWN = 1 << 7  # documented for no command

# Structured replies
REPLY_FLAG_DONE = 1 << 0
RT_NONE = 0
RT_OFFSET_DATA = 1
RT_OFFSET_HOLE = 2
RT_BLOCK_STATUS = 5
RT_ERROR_BIT = 1 << 15
RT_ERROR = RT_ERROR_BIT + 1
RT_ERROR_OFFSET = RT_ERROR_BIT + 2

# base:allocation status flags
STATE_HOLE = 1 << 0
STATE_ZERO = 1 << 1

# Errors
EPERM = 1
EIO = 5
ENOMEM = 12
EINVAL = 22
ENOSPC = 28
EOVERFLOW = 75
ENOTSUP = 95
ESHUTDOWN = 108
ERROR_NAMES = {EPERM: "EPERM", EIO: "EIO", ENOMEM: "ENOMEM", EINVAL: "EINVAL", ENOSPC: "ENOSPC",
               EOVERFLOW: "EOVERFLOW", ENOTSUP: "ENOTSUP", ESHUTDOWN: "ESHUTDOWN"}

OPTION_NAMES = {OPT_EXPORT_NAME: "EXPORT_NAME", OPT_ABORT: "ABORT", OPT_LIST: "LIST",
                OPT_STARTTLS: "STARTTLS", OPT_INFO: "INFO", OPT_GO: "GO",
                OPT_STRUCTURED_REPLY: "STRUCTURED_REPLY",
                OPT_LIST_META_CONTEXT: "LIST_META_CONTEXT",
                OPT_SET_META_CONTEXT: "SET_META_CONTEXT",
                OPT_EXTENDED_HEADERS: "EXTENDED_HEADERS"}
REPLY_NAMES = {REP_ACK: "ACK", REP_SERVER: "SERVER", REP_INFO: "INFO",
               REP_META_CONTEXT: "META_CONTEXT", REP_ERR_UNSUP: "ERR_UNSUP",
               REP_ERR_POLICY: "ERR_POLICY", REP_ERR_INVALID: "ERR_INVALID",
               REP_ERR_PLATFORM: "ERR_PLATFORM", REP_ERR_TLS_REQD: "ERR_TLS_REQD",
               REP_ERR_UNKNOWN: "ERR_UNKNOWN", REP_ERR_SHUTDOWN: "ERR_SHUTDOWN",
               REP_ERR_BLOCK_SIZE_REQD: "ERR_BLOCK_SIZE_REQD", REP_ERR_TOO_BIG: "ERR_TOO_BIG",
               REP_ERR_EXT_HEADER_REQD: "ERR_EXT_HEADER_REQD"}
COMMAND_NAMES = {CMD_READ: "READ", CMD_WRITE: "WRITE", CMD_DISC: "DISC", CMD_FLUSH: "FLUSH",
                 CMD_TRIM: "TRIM", CMD_CACHE: "CACHE", CMD_WRITE_ZEROES: "WRITE_ZEROES",
                 CMD_BLOCK_STATUS: "BLOCK_STATUS"}


def error_name(code):
    return ERROR_NAMES.get(code, "error %d" % code)


def reply_name(rtype):
    return REPLY_NAMES.get(rtype, "reply 0x%x" % rtype)


def option_name(opt):
    return OPTION_NAMES.get(opt, "option 0x%x" % opt)


def command_name(cmd):
    return COMMAND_NAMES.get(cmd, "command 0x%x" % cmd)


def option(opt, data=b""):
    """C: IHAVEOPT, option, length, data."""
    return struct.pack(">QII", IHAVEOPT, opt, len(data)) + data


def option_header(opt, declared_length):
    """Only the header, for options whose declared length does not match what follows."""
    return struct.pack(">QII", IHAVEOPT, opt, declared_length)


def go_data(name, infos=()):
    """Data of NBD_OPT_INFO / NBD_OPT_GO: name length, name, count, info types."""
    raw = name.encode()
    return (struct.pack(">I", len(raw)) + raw + struct.pack(">H", len(infos))
            + b"".join(struct.pack(">H", i) for i in infos))


def meta_data(name, queries):
    """Data of NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT."""
    raw = name.encode()
    out = struct.pack(">I", len(raw)) + raw + struct.pack(">I", len(queries))
    for query in queries:
        q = query.encode()
        out += struct.pack(">I", len(q)) + q
    return out


def request(cmd, offset, length, cookie, flags=0, payload=b"", magic=REQUEST_MAGIC):
    """C: magic, command flags, type, cookie, offset, length, then the WRITE payload."""
    return struct.pack(">IHHQQI", magic, flags, cmd, cookie, offset, length) + payload


REQUEST_SIZE = 28
