// The messages of the transmission phase (proto.md "Transmission"). Each type documents its bytes
// field by field; every integer is big-endian. Large data (WRITE payloads, READ data) is never part
// of these values: it follows the header on the wire and the caller moves it itself, so a 32 MiB
// payload goes from the socket into an aligned buffer (or from the file to the socket) uncopied.

/// A request, 28 bytes, followed by `length` payload bytes when the command is NBD_CMD_WRITE:
///
///     offset 0   4 bytes  NBD_REQUEST_MAGIC 0x25609513
///     offset 4   2 bytes  command flags (`CommandFlags`)
///     offset 6   2 bytes  type (`NBDCommand`)
///     offset 8   8 bytes  cookie (opaque; echoed in every reply)
///     offset 16  8 bytes  offset
///     offset 24  4 bytes  length
public struct NBDRequest: Hashable, Sendable {
    public var flags: CommandFlags
    public var command: NBDCommand
    public var cookie: UInt64
    public var offset: UInt64
    public var length: UInt32

    public init(flags: CommandFlags = [], command: NBDCommand, cookie: UInt64, offset: UInt64, length: UInt32) {
        self.flags = flags
        self.command = command
        self.cookie = cookie
        self.offset = offset
        self.length = length
    }

    /// The size of the header on the wire.
    public static let headerLength = 28
    /// How many payload bytes follow this header on the wire: `length` for a WRITE, else 0.
    public var payloadLength: Int { command == .write ? Int(length) : 0 }
}

/// A simple reply header, 16 bytes. After a successful NBD_CMD_READ (error 0), the request's
/// `length` bytes of data follow; nothing follows any other simple reply.
///
///     offset 0   4 bytes  NBD_SIMPLE_REPLY_MAGIC 0x67446698
///     offset 4   4 bytes  error (`NBDErrno`, 0 for success)
///     offset 8   8 bytes  cookie
public struct SimpleReply: Hashable, Sendable {
    public var error: NBDErrno
    public var cookie: UInt64
    public init(error: NBDErrno = .ok, cookie: UInt64) {
        self.error = error
        self.cookie = cookie
    }

    /// The size of the header on the wire.
    public static let headerLength = 16
}

/// A structured reply chunk, 20 bytes of header then `length` bytes of payload:
///
///     offset 0   4 bytes  NBD_STRUCTURED_REPLY_MAGIC 0x668e33ef
///     offset 4   2 bytes  flags (`ReplyFlags`; NBD_REPLY_FLAG_DONE marks the final chunk)
///     offset 6   2 bytes  type (`ChunkType`)
///     offset 8   8 bytes  cookie
///     offset 16  4 bytes  length of the payload, whose layout each case of `ChunkBody` documents
public struct StructuredChunk: Hashable, Sendable {
    public var flags: ReplyFlags
    public var cookie: UInt64
    public var body: ChunkBody
    public init(flags: ReplyFlags = [], cookie: UInt64, body: ChunkBody) {
        self.flags = flags
        self.cookie = cookie
        self.body = body
    }

    /// The size of the header on the wire.
    public static let headerLength = 20
}

/// The typed payload of a structured reply chunk.
public enum ChunkBody: Hashable, Sendable {
    /// `NBD_REPLY_TYPE_NONE`: length 0, no payload. Always sent with NBD_REPLY_FLAG_DONE.
    case none
    /// `NBD_REPLY_TYPE_OFFSET_DATA`: length 8 + dataLength (≥ 9). Payload: 8 bytes offset, then
    /// `dataLength` bytes of data. The data is not held here: on encoding the caller sends it after
    /// the 28 bytes of header and offset; on decoding the caller takes it as the pending payload.
    case offsetData(offset: UInt64, dataLength: UInt32)
    /// `NBD_REPLY_TYPE_OFFSET_HOLE`: length 12. Payload: 8 bytes offset, 4 bytes hole size (≠ 0).
    case offsetHole(offset: UInt64, length: UInt32)
    /// `NBD_REPLY_TYPE_BLOCK_STATUS`: length 4 + 8 × n (n ≥ 1). Payload: 4 bytes metadata context
    /// ID, then n descriptors of 4 bytes extent length (≠ 0) and 4 bytes status flags.
    case blockStatus(contextID: UInt32, extents: [BlockDescriptor])
    /// `NBD_REPLY_TYPE_ERROR`: length 6 + m. Payload: 4 bytes error (≠ 0), 2 bytes message
    /// length m, m bytes message for humans.
    case error(NBDErrno, message: String)
    /// `NBD_REPLY_TYPE_ERROR_OFFSET`: length 14 + m. Payload: 4 bytes error (≠ 0), 2 bytes message
    /// length m, m bytes message, 8 bytes offset at which the error happened.
    case errorOffset(NBDErrno, message: String, offset: UInt64)
    /// Any other chunk type with its raw payload. An unknown type with bit 15 set is an error
    /// chunk: the client must treat the reply as failed (its payload starts like ERROR's).
    case other(ChunkType, payload: [UInt8])

    /// The chunk type this body is sent with.
    public var type: ChunkType {
        switch self {
        case .none: .none
        case .offsetData: .offsetData
        case .offsetHole: .offsetHole
        case .blockStatus: .blockStatus
        case .error: .error
        case .errorOffset: .errorOffset
        case .other(let type, _): type
        }
    }
}

/// One extent of a BLOCK_STATUS chunk: its length and its status flags (meaning set by the
/// metadata context, e.g. `BaseAllocation.hole` / `.zero`).
public struct BlockDescriptor: Hashable, Sendable {
    public var length: UInt32
    public var flags: UInt32
    public init(length: UInt32, flags: UInt32) {
        self.length = length
        self.flags = flags
    }
}
