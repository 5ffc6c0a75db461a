/// Everything a client sends, as `ClientMessageDecoder` (a server's decoder) returns it.
public enum ClientMessage: Hashable, Sendable, NBDEncodable {
    /// The client's 32-bit answer to the greeting.
    case clientFlags(ClientFlags)
    /// An option request of the handshake.
    case option(ClientOption)
    /// A transmission request. For NBD_CMD_WRITE, `payloadLength` bytes follow: the decoder's
    /// pending payload, which the caller takes before asking for the next message.
    case request(NBDRequest)

    public func encode(into out: inout [UInt8]) {
        switch self {
        case .clientFlags(let flags): flags.encode(into: &out)
        case .option(let option): option.encode(into: &out)
        case .request(let request): request.encode(into: &out)
        }
    }
}

/// Everything a server sends, as `ServerMessageDecoder` (a client's decoder) returns it.
public enum ServerMessage: Hashable, Sendable, NBDEncodable {
    /// The greeting: magics and handshake flags.
    case greeting(ServerGreeting)
    /// One reply to an option.
    case optionReply(OptionReply)
    /// The answer to NBD_OPT_EXPORT_NAME.
    case exportNameReply(ExportNameReply)
    /// A simple reply header; after a successful READ the client expects its data
    /// (`ServerMessageDecoder.expectPayload`).
    case simpleReply(SimpleReply)
    /// A structured reply chunk; an OFFSET_DATA chunk's data is the decoder's pending payload.
    case chunk(StructuredChunk)

    public func encode(into out: inout [UInt8]) {
        switch self {
        case .greeting(let greeting): greeting.encode(into: &out)
        case .optionReply(let reply): reply.encode(into: &out)
        case .exportNameReply(let reply): reply.encode(into: &out)
        case .simpleReply(let reply): reply.encode(into: &out)
        case .chunk(let chunk): chunk.encode(into: &out)
        }
    }
}
