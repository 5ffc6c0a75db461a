// Handshake-phase values of proto.md ("Values" → "Handshake phase"). Codes are structs, not
// closed enums: a peer may send any value, and a server must answer an unknown option with
// NBD_REP_ERR_UNSUP and carry on, so every raw value has to be representable.

/// Handshake flags (16 bits), sent by the server right after `IHAVEOPT` in the greeting.
public struct HandshakeFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// `NBD_FLAG_FIXED_NEWSTYLE` (bit 0): the server speaks fixed newstyle negotiation.
    public static let fixedNewstyle = HandshakeFlags(rawValue: 1 << 0)
    /// `NBD_FLAG_NO_ZEROES` (bit 1): the server may omit the 124 zeroes after NBD_OPT_EXPORT_NAME.
    public static let noZeroes = HandshakeFlags(rawValue: 1 << 1)
}

/// Client flags (32 bits), the client's answer to the greeting.
public struct ClientFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `NBD_FLAG_C_FIXED_NEWSTYLE` (bit 0): the client speaks fixed newstyle negotiation.
    public static let fixedNewstyle = ClientFlags(rawValue: 1 << 0)
    /// `NBD_FLAG_C_NO_ZEROES` (bit 1): the server must not send the 124 zeroes after EXPORT_NAME.
    public static let noZeroes = ClientFlags(rawValue: 1 << 1)
}

/// Transmission flags (16 bits): what the export supports, sent with its size.
public struct TransmissionFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// `NBD_FLAG_HAS_FLAGS` (bit 0): MUST always be set.
    public static let hasFlags = TransmissionFlags(rawValue: 1 << 0)
    /// `NBD_FLAG_READ_ONLY` (bit 1): the export is read-only; writes fail.
    public static let readOnly = TransmissionFlags(rawValue: 1 << 1)
    /// `NBD_FLAG_SEND_FLUSH` (bit 2): NBD_CMD_FLUSH is supported.
    public static let sendFlush = TransmissionFlags(rawValue: 1 << 2)
    /// `NBD_FLAG_SEND_FUA` (bit 3): NBD_CMD_FLAG_FUA is supported.
    public static let sendFUA = TransmissionFlags(rawValue: 1 << 3)
    /// `NBD_FLAG_ROTATIONAL` (bit 4): the export behaves like a rotational medium.
    public static let rotational = TransmissionFlags(rawValue: 1 << 4)
    /// `NBD_FLAG_SEND_TRIM` (bit 5): NBD_CMD_TRIM is supported.
    public static let sendTrim = TransmissionFlags(rawValue: 1 << 5)
    /// `NBD_FLAG_SEND_WRITE_ZEROES` (bit 6): NBD_CMD_WRITE_ZEROES and NBD_CMD_FLAG_NO_HOLE are supported.
    public static let sendWriteZeroes = TransmissionFlags(rawValue: 1 << 6)
    /// `NBD_FLAG_SEND_DF` (bit 7): NBD_CMD_FLAG_DF is supported on reads (structured replies only).
    public static let sendDF = TransmissionFlags(rawValue: 1 << 7)
    /// `NBD_FLAG_CAN_MULTI_CONN` (bit 8): flush and FUA are visible across all connections.
    public static let canMultiConn = TransmissionFlags(rawValue: 1 << 8)
    /// `NBD_FLAG_SEND_RESIZE` (bit 9): NBD_CMD_RESIZE of the experimental RESIZE extension.
    public static let sendResize = TransmissionFlags(rawValue: 1 << 9)
    /// `NBD_FLAG_SEND_CACHE` (bit 10): NBD_CMD_CACHE is understood.
    public static let sendCache = TransmissionFlags(rawValue: 1 << 10)
    /// `NBD_FLAG_SEND_FAST_ZERO` (bit 11): NBD_CMD_FLAG_FAST_ZERO is supported on WRITE_ZEROES.
    public static let sendFastZero = TransmissionFlags(rawValue: 1 << 11)
    /// `NBD_FLAG_BLOCK_STATUS_PAYLOAD` (bit 12): of the experimental EXTENDED_HEADERS extension.
    public static let blockStatusPayload = TransmissionFlags(rawValue: 1 << 12)
}

/// Option codes (32 bits) a client sends during option haggling.
public struct NBDOption: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `NBD_OPT_EXPORT_NAME` (1): choose an export and enter transmission; cannot be refused.
    public static let exportName = NBDOption(rawValue: 1)
    /// `NBD_OPT_ABORT` (2): end the negotiation; the server answers NBD_REP_ACK.
    public static let abort = NBDOption(rawValue: 2)
    /// `NBD_OPT_LIST` (3): list the exports (NBD_REP_SERVER replies, then NBD_REP_ACK).
    public static let list = NBDOption(rawValue: 3)
    /// `NBD_OPT_PEEK_EXPORT` (4): withdrawn experimental extension; not in use.
    public static let peekExport = NBDOption(rawValue: 4)
    /// `NBD_OPT_STARTTLS` (5): upgrade the connection to TLS.
    public static let startTLS = NBDOption(rawValue: 5)
    /// `NBD_OPT_INFO` (6): describe an export without entering transmission.
    public static let info = NBDOption(rawValue: 6)
    /// `NBD_OPT_GO` (7): describe an export and, on NBD_REP_ACK, enter transmission.
    public static let go = NBDOption(rawValue: 7)
    /// `NBD_OPT_STRUCTURED_REPLY` (8): use structured replies in transmission.
    public static let structuredReply = NBDOption(rawValue: 8)
    /// `NBD_OPT_LIST_META_CONTEXT` (9): list the metadata contexts matching queries.
    public static let listMetaContext = NBDOption(rawValue: 9)
    /// `NBD_OPT_SET_META_CONTEXT` (10): select the metadata contexts for NBD_CMD_BLOCK_STATUS.
    public static let setMetaContext = NBDOption(rawValue: 10)
    /// `NBD_OPT_EXTENDED_HEADERS` (11): the experimental EXTENDED_HEADERS extension.
    public static let extendedHeaders = NBDOption(rawValue: 11)

    public var description: String {
        switch self {
        case .exportName: "NBD_OPT_EXPORT_NAME"
        case .abort: "NBD_OPT_ABORT"
        case .list: "NBD_OPT_LIST"
        case .peekExport: "NBD_OPT_PEEK_EXPORT"
        case .startTLS: "NBD_OPT_STARTTLS"
        case .info: "NBD_OPT_INFO"
        case .go: "NBD_OPT_GO"
        case .structuredReply: "NBD_OPT_STRUCTURED_REPLY"
        case .listMetaContext: "NBD_OPT_LIST_META_CONTEXT"
        case .setMetaContext: "NBD_OPT_SET_META_CONTEXT"
        case .extendedHeaders: "NBD_OPT_EXTENDED_HEADERS"
        default: "option \(rawValue)"
        }
    }
}

/// Option reply types (32 bits). Error replies have bit 31 set and may carry a message.
public struct OptionReplyType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `NBD_REP_ACK` (1): the option succeeded, or a list of replies is complete. No data.
    public static let ack = OptionReplyType(rawValue: 1)
    /// `NBD_REP_SERVER` (2): one export of an NBD_OPT_LIST answer.
    public static let server = OptionReplyType(rawValue: 2)
    /// `NBD_REP_INFO` (3): one piece of information about an export (NBD_OPT_INFO / NBD_OPT_GO).
    public static let info = OptionReplyType(rawValue: 3)
    /// `NBD_REP_META_CONTEXT` (4): one metadata context with its ID.
    public static let metaContext = OptionReplyType(rawValue: 4)
    /// `NBD_REP_ERR_UNSUP` (2^31 + 1): the option is unknown to this server.
    public static let errUnsup = OptionReplyType(rawValue: errorBit | 1)
    /// `NBD_REP_ERR_POLICY` (2^31 + 2): the option is valid but server policy forbids it.
    public static let errPolicy = OptionReplyType(rawValue: errorBit | 2)
    /// `NBD_REP_ERR_INVALID` (2^31 + 3): the option is syntactically or semantically invalid.
    public static let errInvalid = OptionReplyType(rawValue: errorBit | 3)
    /// `NBD_REP_ERR_PLATFORM` (2^31 + 4): the option is not supported on this platform.
    public static let errPlatform = OptionReplyType(rawValue: errorBit | 4)
    /// `NBD_REP_ERR_TLS_REQD` (2^31 + 5): TLS must be initiated first.
    public static let errTLSReqd = OptionReplyType(rawValue: errorBit | 5)
    /// `NBD_REP_ERR_UNKNOWN` (2^31 + 6): the requested export is not available.
    public static let errUnknown = OptionReplyType(rawValue: errorBit | 6)
    /// `NBD_REP_ERR_SHUTDOWN` (2^31 + 7): the server is shutting down.
    public static let errShutdown = OptionReplyType(rawValue: errorBit | 7)
    /// `NBD_REP_ERR_BLOCK_SIZE_REQD` (2^31 + 8): the client must request NBD_INFO_BLOCK_SIZE first.
    public static let errBlockSizeReqd = OptionReplyType(rawValue: errorBit | 8)
    /// `NBD_REP_ERR_TOO_BIG` (2^31 + 9): the request or its reply is too large to process.
    public static let errTooBig = OptionReplyType(rawValue: errorBit | 9)
    /// `NBD_REP_ERR_EXT_HEADER_REQD` (2^31 + 10): of the experimental EXTENDED_HEADERS extension.
    public static let errExtHeaderReqd = OptionReplyType(rawValue: errorBit | 10)

    /// Bit 31, set in every error reply type.
    public static let errorBit: UInt32 = 1 << 31
    /// True for the `NBD_REP_ERR_*` family.
    public var isError: Bool { rawValue & Self.errorBit != 0 }

    public var description: String {
        switch self {
        case .ack: "NBD_REP_ACK"
        case .server: "NBD_REP_SERVER"
        case .info: "NBD_REP_INFO"
        case .metaContext: "NBD_REP_META_CONTEXT"
        case .errUnsup: "NBD_REP_ERR_UNSUP"
        case .errPolicy: "NBD_REP_ERR_POLICY"
        case .errInvalid: "NBD_REP_ERR_INVALID"
        case .errPlatform: "NBD_REP_ERR_PLATFORM"
        case .errTLSReqd: "NBD_REP_ERR_TLS_REQD"
        case .errUnknown: "NBD_REP_ERR_UNKNOWN"
        case .errShutdown: "NBD_REP_ERR_SHUTDOWN"
        case .errBlockSizeReqd: "NBD_REP_ERR_BLOCK_SIZE_REQD"
        case .errTooBig: "NBD_REP_ERR_TOO_BIG"
        case .errExtHeaderReqd: "NBD_REP_ERR_EXT_HEADER_REQD"
        default: isError ? "error reply \(rawValue & ~Self.errorBit)" : "reply \(rawValue)"
        }
    }
}

/// Information types (16 bits) a client requests in NBD_OPT_INFO / NBD_OPT_GO and a server sends
/// in NBD_REP_INFO.
public struct NBDInfo: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// `NBD_INFO_EXPORT` (0): export size and transmission flags; mandatory before NBD_REP_ACK.
    public static let export = NBDInfo(rawValue: 0)
    /// `NBD_INFO_NAME` (1): the server's canonical name of the export.
    public static let name = NBDInfo(rawValue: 1)
    /// `NBD_INFO_DESCRIPTION` (2): a description of the export for humans.
    public static let description = NBDInfo(rawValue: 2)
    /// `NBD_INFO_BLOCK_SIZE` (3): minimum, preferred and maximum block sizes.
    public static let blockSize = NBDInfo(rawValue: 3)

    public var description: String {
        switch self {
        case .export: "NBD_INFO_EXPORT"
        case .name: "NBD_INFO_NAME"
        case .description: "NBD_INFO_DESCRIPTION"
        case .blockSize: "NBD_INFO_BLOCK_SIZE"
        default: "info \(rawValue)"
        }
    }
}
