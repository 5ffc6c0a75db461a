// The messages of fixed newstyle negotiation (proto.md "Handshake"). Each type documents its
// bytes field by field; every integer is big-endian. Encoding is in HandshakeEncoding.swift,
// payload decoding in HandshakeDecoding.swift, stream framing in the two decoders.

/// The server's greeting, 18 bytes:
///
///     offset 0   8 bytes  NBDMAGIC  0x4e42444d41474943
///     offset 8   8 bytes  IHAVEOPT  0x49484156454F5054
///     offset 16  2 bytes  handshake flags
///
/// The client answers with its 32-bit client flags (`ClientFlags`, 4 bytes).
public struct ServerGreeting: Hashable, Sendable {
    public var flags: HandshakeFlags
    /// Defaults to what RDR's server offers: fixed newstyle, and no zeroes after EXPORT_NAME.
    public init(flags: HandshakeFlags = [.fixedNewstyle, .noZeroes]) { self.flags = flags }
}

/// An option request, 16 bytes of header then the option's data:
///
///     offset 0   8 bytes  IHAVEOPT  0x49484156454F5054
///     offset 8   4 bytes  option code (`NBDOption`)
///     offset 12  4 bytes  length of the data
///     offset 16  length   data, whose layout each case documents
public enum ClientOption: Hashable, Sendable {
    /// `NBD_OPT_EXPORT_NAME`. Data: the export name, the whole data (may be empty: the default
    /// export). The server answers with an `ExportNameReply`, or disconnects.
    case exportName(String)
    /// `NBD_OPT_ABORT`. Data: none (data a client sends anyway is ignored, as proto.md asks).
    case abort
    /// `NBD_OPT_LIST`. Data: none (data makes the option invalid).
    case list
    /// `NBD_OPT_INFO`. Data: see `ExportRequest`.
    case info(ExportRequest)
    /// `NBD_OPT_GO`. Data: see `ExportRequest`. A reply ending in NBD_REP_ACK enters transmission.
    case go(ExportRequest)
    /// `NBD_OPT_STRUCTURED_REPLY`. Data: none (data makes the option invalid).
    case structuredReply
    /// `NBD_OPT_LIST_META_CONTEXT`. Data: see `MetaContextRequest`.
    case listMetaContext(MetaContextRequest)
    /// `NBD_OPT_SET_META_CONTEXT`. Data: see `MetaContextRequest`.
    case setMetaContext(MetaContextRequest)
    /// Any other option (NBD_OPT_STARTTLS, NBD_OPT_EXTENDED_HEADERS, unknown codes): the code and
    /// its raw data, so that a server can answer NBD_REP_ERR_UNSUP and read the next option.
    case other(NBDOption, data: [UInt8])

    /// The option code this request is sent with.
    public var code: NBDOption {
        switch self {
        case .exportName: .exportName
        case .abort: .abort
        case .list: .list
        case .info: .info
        case .go: .go
        case .structuredReply: .structuredReply
        case .listMetaContext: .listMetaContext
        case .setMetaContext: .setMetaContext
        case .other(let code, _): code
        }
    }
}

/// The data of NBD_OPT_INFO and NBD_OPT_GO:
///
///     4 bytes      length N of the export name (at most the data length − 6)
///     N bytes      export name
///     2 bytes      number M of information requests
///     M × 2 bytes  requested information types (`NBDInfo`)
///
/// The data must end exactly there.
public struct ExportRequest: Hashable, Sendable {
    public var name: String
    public var infoRequests: [NBDInfo]
    public init(name: String, infoRequests: [NBDInfo] = []) {
        self.name = name
        self.infoRequests = infoRequests
    }
}

/// The data of NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT:
///
///     4 bytes   length N of the export name
///     N bytes   export name
///     4 bytes   number Q of queries
///     Q times:  4 bytes length L of the query, then L bytes of query (e.g. "base:allocation")
///
/// The data must end exactly there.
public struct MetaContextRequest: Hashable, Sendable {
    public var exportName: String
    public var queries: [String]
    public init(exportName: String, queries: [String]) {
        self.exportName = exportName
        self.queries = queries
    }
}

/// An option reply, 20 bytes of header then the reply's data:
///
///     offset 0   8 bytes  NBD_REP_MAGIC 0x0003e889045565a9
///     offset 8   4 bytes  the option code being answered (`NBDOption`)
///     offset 12  4 bytes  reply type (`OptionReplyType`)
///     offset 16  4 bytes  length of the data
///     offset 20  length   data, whose layout each case of `OptionReplyBody` documents
public struct OptionReply: Hashable, Sendable {
    public var option: NBDOption
    public var body: OptionReplyBody
    public init(option: NBDOption, body: OptionReplyBody) {
        self.option = option
        self.body = body
    }
}

/// The typed data of an option reply.
public enum OptionReplyBody: Hashable, Sendable {
    /// `NBD_REP_ACK`. Data: none.
    case ack
    /// `NBD_REP_SERVER`. Data: 4 bytes name length N (at most data length − 4), N bytes export
    /// name, then the rest: an optional description for humans.
    case server(name: String, details: String)
    /// `NBD_REP_INFO`. Data: 2 bytes information type, then its payload (see `InfoItem`).
    case info(InfoItem)
    /// `NBD_REP_META_CONTEXT`. Data: 4 bytes context ID, then the rest: the context name.
    case metaContext(id: UInt32, name: String)
    /// Any `NBD_REP_ERR_*` type. Data: an optional message for humans (the whole data).
    case error(OptionReplyType, message: String)
    /// Any other non-error reply type, with its raw data.
    case other(OptionReplyType, data: [UInt8])

    /// The reply type this body is sent with.
    public var type: OptionReplyType {
        switch self {
        case .ack: .ack
        case .server: .server
        case .info: .info
        case .metaContext: .metaContext
        case .error(let type, _), .other(let type, _): type
        }
    }
}

/// The payload of NBD_REP_INFO after its 2-byte information type.
public enum InfoItem: Hashable, Sendable {
    /// `NBD_INFO_EXPORT` (reply length 12): 8 bytes export size, 2 bytes transmission flags.
    case export(size: UInt64, flags: TransmissionFlags)
    /// `NBD_INFO_NAME` (reply length ≥ 2): the rest is the canonical export name.
    case name(String)
    /// `NBD_INFO_DESCRIPTION` (reply length ≥ 2): the rest is a description for humans.
    case description(String)
    /// `NBD_INFO_BLOCK_SIZE` (reply length 14): 4 bytes each of minimum, preferred, maximum.
    case blockSize(BlockSizeConstraints)
    /// Any other information type, with its raw payload (clients must ignore unknown types).
    case other(NBDInfo, data: [UInt8])

    /// The information type this item is sent with.
    public var type: NBDInfo {
        switch self {
        case .export: .export
        case .name: .name
        case .description: .description
        case .blockSize: .blockSize
        case .other(let type, _): type
        }
    }
}

/// proto.md "Size constraints": the three sizes of NBD_INFO_BLOCK_SIZE.
public struct BlockSizeConstraints: Hashable, Sendable {
    /// Smallest addressable length and alignment (power of two, 1 … 64 KiB).
    public var minimum: UInt32
    /// Size at which aligned requests are efficient (power of two, ≥ max(minimum, 512)).
    public var preferred: UInt32
    /// Largest payload the server accepts in one request.
    public var maximum: UInt32
    public init(minimum: UInt32, preferred: UInt32, maximum: UInt32) {
        self.minimum = minimum
        self.preferred = preferred
        self.maximum = maximum
    }
}

/// The server's answer to NBD_OPT_EXPORT_NAME (no magic, no header):
///
///     offset 0   8 bytes    export size
///     offset 8   2 bytes    transmission flags
///     offset 10  124 bytes  zeroes, unless the client set NBD_FLAG_C_NO_ZEROES
public struct ExportNameReply: Hashable, Sendable {
    public var size: UInt64
    public var flags: TransmissionFlags
    /// Whether the 124 reserved zero bytes follow (false once NBD_FLAG_C_NO_ZEROES was agreed).
    public var zeroPadding: Bool
    public init(size: UInt64, flags: TransmissionFlags, zeroPadding: Bool) {
        self.size = size
        self.flags = flags
        self.zeroPadding = zeroPadding
    }

    /// The length of the reserved zero padding.
    public static let paddingLength = 124
}
