// Transmission-phase values of proto.md ("Values" → "Transmission phase", "Error values",
// "base:allocation metadata context"). Codes are structs so that unknown values a peer sends stay
// representable: a server answers an unknown command with NBD_EINVAL and keeps the connection.

/// Request types (16 bits).
public struct NBDCommand: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// `NBD_CMD_READ` (0): read *length* bytes at *offset*.
    public static let read = NBDCommand(rawValue: 0)
    /// `NBD_CMD_WRITE` (1): write the *length* payload bytes that follow the request at *offset*.
    public static let write = NBDCommand(rawValue: 1)
    /// `NBD_CMD_DISC` (2): disconnect after the outstanding requests; no reply.
    public static let disc = NBDCommand(rawValue: 2)
    /// `NBD_CMD_FLUSH` (3): make every answered write durable.
    public static let flush = NBDCommand(rawValue: 3)
    /// `NBD_CMD_TRIM` (4): the range is no longer needed (may be discarded).
    public static let trim = NBDCommand(rawValue: 4)
    /// `NBD_CMD_CACHE` (5): the client will soon access the range.
    public static let cache = NBDCommand(rawValue: 5)
    /// `NBD_CMD_WRITE_ZEROES` (6): make the range read as zeroes, without a payload.
    public static let writeZeroes = NBDCommand(rawValue: 6)
    /// `NBD_CMD_BLOCK_STATUS` (7): report the selected metadata contexts over the range.
    public static let blockStatus = NBDCommand(rawValue: 7)
    /// `NBD_CMD_RESIZE` (8): of the experimental RESIZE extension.
    public static let resize = NBDCommand(rawValue: 8)

    public var description: String {
        switch self {
        case .read: "NBD_CMD_READ"
        case .write: "NBD_CMD_WRITE"
        case .disc: "NBD_CMD_DISC"
        case .flush: "NBD_CMD_FLUSH"
        case .trim: "NBD_CMD_TRIM"
        case .cache: "NBD_CMD_CACHE"
        case .writeZeroes: "NBD_CMD_WRITE_ZEROES"
        case .blockStatus: "NBD_CMD_BLOCK_STATUS"
        case .resize: "NBD_CMD_RESIZE"
        default: "command \(rawValue)"
        }
    }
}

/// Command flags (16 bits) of a request.
public struct CommandFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// `NBD_CMD_FLAG_FUA` (bit 0): answer only once the command's writes are durable.
    public static let fua = CommandFlags(rawValue: 1 << 0)
    /// `NBD_CMD_FLAG_NO_HOLE` (bit 1): WRITE_ZEROES must leave the range allocated.
    public static let noHole = CommandFlags(rawValue: 1 << 1)
    /// `NBD_CMD_FLAG_DF` (bit 2): "don't fragment" — a READ gets at most one content chunk.
    public static let df = CommandFlags(rawValue: 1 << 2)
    /// `NBD_CMD_FLAG_REQ_ONE` (bit 3): BLOCK_STATUS returns one extent per context.
    public static let reqOne = CommandFlags(rawValue: 1 << 3)
    /// `NBD_CMD_FLAG_FAST_ZERO` (bit 4): fail WRITE_ZEROES with NBD_ENOTSUP unless it is fast.
    public static let fastZero = CommandFlags(rawValue: 1 << 4)
    /// `NBD_CMD_FLAG_PAYLOAD_LEN` (bit 5): of the experimental EXTENDED_HEADERS extension.
    public static let payloadLen = CommandFlags(rawValue: 1 << 5)
}

/// Structured reply flags (16 bits) of a chunk.
public struct ReplyFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// `NBD_REPLY_FLAG_DONE` (bit 0): this is the final chunk of the reply.
    public static let done = ReplyFlags(rawValue: 1 << 0)
}

/// Structured reply chunk types (16 bits). Error chunks have bit 15 set.
public struct ChunkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// `NBD_REPLY_TYPE_NONE` (0): no payload; the final chunk of a successful reply.
    public static let none = ChunkType(rawValue: 0)
    /// `NBD_REPLY_TYPE_OFFSET_DATA` (1): data read at an offset.
    public static let offsetData = ChunkType(rawValue: 1)
    /// `NBD_REPLY_TYPE_OFFSET_HOLE` (2): a range that reads as zeroes.
    public static let offsetHole = ChunkType(rawValue: 2)
    /// `NBD_REPLY_TYPE_BLOCK_STATUS` (5): extents of one metadata context.
    public static let blockStatus = ChunkType(rawValue: 5)
    /// `NBD_REPLY_TYPE_BLOCK_STATUS_EXT` (6): of the experimental EXTENDED_HEADERS extension.
    public static let blockStatusExt = ChunkType(rawValue: 6)
    /// `NBD_REPLY_TYPE_ERROR` (2^15 + 1): the request failed, with an optional message.
    public static let error = ChunkType(rawValue: errorBit | 1)
    /// `NBD_REPLY_TYPE_ERROR_OFFSET` (2^15 + 2): the request failed at an offset.
    public static let errorOffset = ChunkType(rawValue: errorBit | 2)

    /// Bit 15, set in every error chunk type.
    public static let errorBit: UInt16 = 1 << 15
    /// True for error chunks, which a client must understand as an error even when unknown.
    public var isError: Bool { rawValue & Self.errorBit != 0 }

    public var description: String {
        switch self {
        case .none: "NBD_REPLY_TYPE_NONE"
        case .offsetData: "NBD_REPLY_TYPE_OFFSET_DATA"
        case .offsetHole: "NBD_REPLY_TYPE_OFFSET_HOLE"
        case .blockStatus: "NBD_REPLY_TYPE_BLOCK_STATUS"
        case .blockStatusExt: "NBD_REPLY_TYPE_BLOCK_STATUS_EXT"
        case .error: "NBD_REPLY_TYPE_ERROR"
        case .errorOffset: "NBD_REPLY_TYPE_ERROR_OFFSET"
        default: isError ? "error chunk \(rawValue & ~Self.errorBit)" : "chunk type \(rawValue)"
        }
    }
}

/// Error values (32 bits) of simple replies and error chunks. They equal Linux errno values.
public struct NBDErrno: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// No error (a simple reply's success value; never valid in an error chunk).
    public static let ok = NBDErrno(rawValue: 0)
    /// `NBD_EPERM` (1): operation not permitted (e.g. a write to a read-only export).
    public static let eperm = NBDErrno(rawValue: 1)
    /// `NBD_EIO` (5): input/output error.
    public static let eio = NBDErrno(rawValue: 5)
    /// `NBD_ENOMEM` (12): cannot allocate memory.
    public static let enomem = NBDErrno(rawValue: 12)
    /// `NBD_EINVAL` (22): invalid argument (unknown command or flag, misaligned or out of range).
    public static let einval = NBDErrno(rawValue: 22)
    /// `NBD_ENOSPC` (28): no space left on device (also for a write past the end).
    public static let enospc = NBDErrno(rawValue: 28)
    /// `NBD_EOVERFLOW` (75): value too large (DF read too long, oversized effect length).
    public static let eoverflow = NBDErrno(rawValue: 75)
    /// `NBD_ENOTSUP` (95): operation not supported (FAST_ZERO that would not be fast).
    public static let enotsup = NBDErrno(rawValue: 95)
    /// `NBD_ESHUTDOWN` (108): the server is shutting down.
    public static let eshutdown = NBDErrno(rawValue: 108)

    public var description: String {
        switch self {
        case .ok: "success"
        case .eperm: "NBD_EPERM"
        case .eio: "NBD_EIO"
        case .enomem: "NBD_ENOMEM"
        case .einval: "NBD_EINVAL"
        case .enospc: "NBD_ENOSPC"
        case .eoverflow: "NBD_EOVERFLOW"
        case .enotsup: "NBD_ENOTSUP"
        case .eshutdown: "NBD_ESHUTDOWN"
        default: "error \(rawValue)"
        }
    }
}

/// The `base:allocation` metadata context and its status flags.
public enum BaseAllocation {
    /// The context's name, as queried in NBD_OPT_SET_META_CONTEXT.
    public static let contextName = "base:allocation"
    /// `NBD_STATE_HOLE` (bit 0): the extent is not allocated in the backing storage.
    public static let hole: UInt32 = 1 << 0
    /// `NBD_STATE_ZERO` (bit 1): the extent reads as zeroes.
    public static let zero: UInt32 = 1 << 1
}
