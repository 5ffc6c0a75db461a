/// What a decoder throws. Two kinds, told apart by `isFatal`:
///
/// - Fatal: the byte stream cannot be framed any more (bad magic, extended headers, oldstyle
///   greeting, client flags the server did not offer). The decoder keeps throwing the same error;
///   the connection must be closed.
/// - Recoverable: one message was malformed or too large, but its length was known, so the decoder
///   consumed it (or skips its bytes as they arrive) and `next()` continues with the next message.
///   A server answers such an option with NBD_REP_ERR_INVALID / NBD_REP_ERR_TOO_BIG (an invalid
///   NBD_OPT_EXPORT_NAME cannot be answered: the server must disconnect), and such a WRITE with
///   NBD_EINVAL or NBD_EOVERFLOW for the request's cookie.
public enum NBDWireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A message did not start with the magic expected at this point of the stream.
    case badMagic(expected: UInt64, found: UInt64)
    /// The peer sent an EXTENDED_HEADERS request or reply, which this codec never negotiates.
    case extendedHeadersNotNegotiated(magic: UInt32)
    /// The server greeted with oldstyle negotiation (`cliserv_magic`), which has no options.
    case oldstyleNegotiation
    /// The client set flags the server did not advertise; proto.md: the server MUST disconnect.
    case unsupportedClientFlags(ClientFlags)

    /// An option's data is longer than `NBDLimits.maxOptionData`; its data is skipped.
    case optionTooLarge(NBDOption, length: UInt32, limit: Int)
    /// An option's data is structurally invalid (e.g. a name length past the option's end).
    case invalidOption(NBDOption, reason: String)
    /// A WRITE's payload is longer than `NBDLimits.maxPayload`; its payload is skipped.
    case writeTooLarge(NBDRequest, limit: Int)
    /// An option reply's data is longer than `NBDLimits.maxOptionData`; its data is skipped.
    case optionReplyTooLarge(NBDOption, OptionReplyType, length: UInt32, limit: Int)
    /// An option reply's data is structurally invalid (e.g. NBD_INFO_EXPORT not 12 bytes long).
    case invalidOptionReply(NBDOption, OptionReplyType, reason: String)
    /// A chunk's payload is longer than the limits allow; its payload is skipped.
    case chunkTooLarge(cookie: UInt64, ChunkType, length: UInt32, limit: Int)
    /// A chunk's payload is structurally invalid (e.g. OFFSET_HOLE not 12 bytes long).
    case invalidChunk(cookie: UInt64, ChunkType, reason: String)
    /// `next()` was called while the previous message's payload was not yet taken by the caller.
    case payloadPending(remaining: Int)

    /// True when the stream cannot continue and the connection must be closed.
    public var isFatal: Bool {
        switch self {
        case .badMagic, .extendedHeadersNotNegotiated, .oldstyleNegotiation, .unsupportedClientFlags: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .badMagic(let expected, let found):
            "NBD: expected a \(NBDMagic.messageName(expected)) with magic \(hex(expected)), found \(hex(found))"
        case .extendedHeadersNotNegotiated(let magic):
            "NBD: the peer sent an extended header (magic \(hex(UInt64(magic)))) but extended headers were not negotiated"
        case .oldstyleNegotiation:
            "NBD: the server uses oldstyle negotiation; only fixed newstyle is supported"
        case .unsupportedClientFlags(let flags):
            "NBD: the client sent flags \(hex(UInt64(flags.rawValue))) that the server did not advertise"
        case .optionTooLarge(let option, let length, let limit):
            "NBD: \(option) carries \(length) bytes of data, more than the limit of \(limit)"
        case .invalidOption(let option, let reason):
            "NBD: invalid \(option): \(reason)"
        case .writeTooLarge(let request, let limit):
            "NBD: NBD_CMD_WRITE of \(request.length) bytes exceeds the maximum payload of \(limit)"
        case .optionReplyTooLarge(let option, let type, let length, let limit):
            "NBD: \(type) to \(option) carries \(length) bytes, more than the limit of \(limit)"
        case .invalidOptionReply(let option, let type, let reason):
            "NBD: invalid \(type) to \(option): \(reason)"
        case .chunkTooLarge(let cookie, let type, let length, let limit):
            "NBD: \(type) chunk for cookie \(cookie) carries \(length) bytes, more than the limit of \(limit)"
        case .invalidChunk(let cookie, let type, let reason):
            "NBD: invalid \(type) chunk for cookie \(cookie): \(reason)"
        case .payloadPending(let remaining):
            "NBD: \(remaining) payload bytes of the previous message were not taken before the next message"
        }
    }
}

/// `0x…` in lower-case hexadecimal (no Foundation here for String(format:)).
func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
