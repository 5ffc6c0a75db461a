/// Decodes what a server sends, for a client: the greeting, option replies, then replies and
/// chunks. Two things cannot be told from the server's bytes alone, so the client says them:
/// `phase = .exportNameReply(zeroPadding:)` after sending NBD_OPT_EXPORT_NAME (that answer has no
/// header), and `expectPayload(_:)` after a successful simple reply to a READ (its data has no
/// length field). NBD_REP_ACK to NBD_OPT_GO moves to transmission by itself.
///
/// OFFSET_DATA chunk data and simple READ reply data are pending payloads the client reads into
/// its own buffer; every other length is checked against `limits` before anything is buffered.
public struct ServerMessageDecoder: NBDStreamDecoding, Sendable {
    public enum Phase: Hashable, Sendable {
        /// Expecting the 18-byte greeting.
        case greeting
        /// Expecting option replies.
        case optionReplies
        /// Expecting the answer to NBD_OPT_EXPORT_NAME, with or without its 124 zero bytes.
        case exportNameReply(zeroPadding: Bool)
        /// Expecting simple replies and structured chunks.
        case transmission
    }

    public var phase: Phase
    public let limits: NBDLimits
    public var input = NBDInput()

    public init(limits: NBDLimits = NBDLimits(), phase: Phase = .greeting) {
        self.limits = limits
        self.phase = phase
    }

    /// After a simple reply with error 0 to a READ of `count` bytes: that many bytes of data
    /// follow, as the pending payload.
    public mutating func expectPayload(_ count: Int) { input.expectPayload(count) }

    public mutating func next() throws(NBDWireError) -> ServerMessage? {
        guard try input.ready() else { return nil }
        do throws(NBDWireError) {
            switch phase {
            case .greeting: return try greeting()
            case .optionReplies: return try optionReply()
            case .exportNameReply(let zeroPadding): return exportNameReply(zeroPadding: zeroPadding)
            case .transmission: return try reply()
            }
        } catch {
            input.note(error)
            throw error
        }
    }

    /// NBDMAGIC, IHAVEOPT, 16-bit handshake flags (see `ServerGreeting`).
    private mutating func greeting() throws(NBDWireError) -> ServerMessage? {
        guard input.buffered >= 8 else { return nil }
        let magic: UInt64 = input.peek(0)
        guard magic == NBDMagic.nbdMagic else { throw .badMagic(expected: NBDMagic.nbdMagic, found: magic) }
        guard input.buffered >= 16 else { return nil }
        let second: UInt64 = input.peek(8)
        guard second != NBDMagic.cliservOldstyle else { throw .oldstyleNegotiation }
        guard second == NBDMagic.ihaveopt else { throw .badMagic(expected: NBDMagic.ihaveopt, found: second) }
        guard input.buffered >= 18 else { return nil }
        let flags = HandshakeFlags(rawValue: input.peek(16))  // unknown flags: ignored by clients
        input.consume(18)
        phase = .optionReplies
        return .greeting(ServerGreeting(flags: flags))
    }

    /// NBD_REP_MAGIC, option, reply type, data length, data (see `OptionReply`).
    private mutating func optionReply() throws(NBDWireError) -> ServerMessage? {
        guard input.buffered >= 8 else { return nil }
        let magic: UInt64 = input.peek(0)
        guard magic == NBDMagic.optionReply else { throw .badMagic(expected: NBDMagic.optionReply, found: magic) }
        guard input.buffered >= 20 else { return nil }
        let option = NBDOption(rawValue: input.peek(8))
        let type = OptionReplyType(rawValue: input.peek(12))
        let length: UInt32 = input.peek(16)
        guard Int(length) <= limits.maxOptionData else {
            input.consume(20)
            input.skip(UInt64(length))
            throw .optionReplyTooLarge(option, type, length: length, limit: limits.maxOptionData)
        }
        guard input.buffered >= 20 + Int(length) else { return nil }
        input.consume(20)
        let body = try OptionReply.decodeBody(option: option, type: type, data: input.take(Int(length)))
        if option == .go, type == .ack { phase = .transmission }
        return .optionReply(OptionReply(option: option, body: body))
    }

    /// Export size, transmission flags, maybe 124 zeroes (see `ExportNameReply`).
    private mutating func exportNameReply(zeroPadding: Bool) -> ServerMessage? {
        let length = 10 + (zeroPadding ? ExportNameReply.paddingLength : 0)
        guard input.buffered >= length else { return nil }
        let reply = ExportNameReply(
            size: input.peek(0), flags: TransmissionFlags(rawValue: input.peek(8)), zeroPadding: zeroPadding)
        input.consume(length)  // the reserved bytes are not checked: proto.md only reserves them
        phase = .transmission
        return .exportNameReply(reply)
    }

    /// A simple reply (16 bytes) or a structured chunk (20 bytes of header, then its payload).
    private mutating func reply() throws(NBDWireError) -> ServerMessage? {
        guard input.buffered >= 4 else { return nil }
        let magic: UInt32 = input.peek(0)
        switch magic {
        case NBDMagic.simpleReply:
            guard input.buffered >= SimpleReply.headerLength else { return nil }
            let reply = SimpleReply(error: NBDErrno(rawValue: input.peek(4)), cookie: input.peek(8))
            input.consume(SimpleReply.headerLength)
            return .simpleReply(reply)
        case NBDMagic.structuredReply: return try chunk()
        case NBDMagic.extendedReply: throw .extendedHeadersNotNegotiated(magic: magic)
        default: throw .badMagic(expected: UInt64(NBDMagic.structuredReply), found: UInt64(magic))
        }
    }

    private mutating func chunk() throws(NBDWireError) -> ServerMessage? {
        guard input.buffered >= StructuredChunk.headerLength else { return nil }
        let flags = ReplyFlags(rawValue: input.peek(4))
        let type = ChunkType(rawValue: input.peek(6))
        let cookie: UInt64 = input.peek(8)
        let length: UInt32 = input.peek(16)
        if type == .offsetData { return try offsetData(flags: flags, cookie: cookie, length: length) }
        guard Int(length) <= limits.maxChunkPayload else {
            try refuse(length, .chunkTooLarge(cookie: cookie, type, length: length, limit: limits.maxChunkPayload))
        }
        guard input.buffered >= StructuredChunk.headerLength + Int(length) else { return nil }
        input.consume(StructuredChunk.headerLength)
        do throws(PayloadReader.Failure) {
            let body = try ChunkBody.decode(type, payload: input.take(Int(length)))
            return .chunk(StructuredChunk(flags: flags, cookie: cookie, body: body))
        } catch {
            throw .invalidChunk(cookie: cookie, type, reason: error.reason)
        }
    }

    /// OFFSET_DATA: 8 bytes of offset framed here, the data left as the pending payload.
    private mutating func offsetData(flags: ReplyFlags, cookie: UInt64, length: UInt32) throws(NBDWireError)
        -> ServerMessage?
    {
        guard length >= 9 else {
            try refuse(length, .invalidChunk(cookie: cookie, .offsetData, reason: "length \(length) is less than 9"))
        }
        let dataLength = length - 8
        guard Int(dataLength) <= limits.maxPayload else {
            // The limit on the whole chunk: the data limit plus the 8-byte offset.
            let limit = limits.maxPayload.addingReportingOverflow(8).overflow ? Int.max : limits.maxPayload + 8
            try refuse(length, .chunkTooLarge(cookie: cookie, .offsetData, length: length, limit: limit))
        }
        guard input.buffered >= StructuredChunk.headerLength + 8 else { return nil }
        let offset: UInt64 = input.peek(StructuredChunk.headerLength)
        input.consume(StructuredChunk.headerLength + 8)
        input.expectPayload(Int(dataLength))
        return .chunk(
            StructuredChunk(flags: flags, cookie: cookie, body: .offsetData(offset: offset, dataLength: dataLength)))
    }

    /// Consumes the chunk header, skips its `length` payload bytes and throws `error`.
    private mutating func refuse(_ length: UInt32, _ error: NBDWireError) throws(NBDWireError) -> Never {
        input.consume(StructuredChunk.headerLength)
        input.skip(UInt64(length))
        throw error
    }
}
