/// Decodes what a client sends, for a server: the client flags, then option requests, then
/// (after NBD_OPT_EXPORT_NAME, or once the server has answered NBD_OPT_GO with NBD_REP_ACK and
/// sets `phase = .transmission`) requests, each WRITE followed by its payload.
///
/// Every length is checked against `limits` before anything is buffered for it: an option over
/// `maxOptionData` and a WRITE over `maxPayload` are refused with a recoverable error and their
/// bytes skipped, so the server can answer (NBD_REP_ERR_TOO_BIG, NBD_EOVERFLOW) and carry on.
public struct ClientMessageDecoder: NBDStreamDecoding, Sendable {
    /// Where the client's stream is; the decoder moves on by itself except from options to
    /// transmission after NBD_OPT_GO, which only the server's reply decides.
    public enum Phase: Hashable, Sendable {
        /// Expecting the 4-byte client flags that answer the greeting.
        case clientFlags
        /// Expecting option requests.
        case options
        /// Expecting transmission requests.
        case transmission
    }

    public var phase: Phase
    public let limits: NBDLimits
    /// The handshake flags the server's greeting offered: client flags must match them.
    public let offered: HandshakeFlags
    public var input = NBDInput()

    public init(
        offered: HandshakeFlags = ServerGreeting().flags, limits: NBDLimits = NBDLimits(), phase: Phase = .clientFlags
    ) {
        self.offered = offered
        self.limits = limits
        self.phase = phase
    }

    public mutating func next() throws(NBDWireError) -> ClientMessage? {
        guard try input.ready() else { return nil }
        do throws(NBDWireError) {
            switch phase {
            case .clientFlags: return try clientFlags()
            case .options: return try option()
            case .transmission: return try request()
            }
        } catch {
            input.note(error)
            throw error
        }
    }

    /// 4 bytes of client flags; proto.md: a flag the server did not offer MUST end the session.
    private mutating func clientFlags() throws(NBDWireError) -> ClientMessage? {
        guard input.buffered >= 4 else { return nil }
        let flags = ClientFlags(rawValue: input.peek(0))
        var allowed: ClientFlags = []
        if offered.contains(.fixedNewstyle) { allowed.insert(.fixedNewstyle) }
        if offered.contains(.noZeroes) { allowed.insert(.noZeroes) }
        guard allowed.isSuperset(of: flags) else { throw .unsupportedClientFlags(flags) }
        input.consume(4)
        phase = .options
        return .clientFlags(flags)
    }

    /// IHAVEOPT, option code, data length, data (see `ClientOption`).
    private mutating func option() throws(NBDWireError) -> ClientMessage? {
        guard input.buffered >= 8 else { return nil }
        let magic: UInt64 = input.peek(0)
        guard magic == NBDMagic.ihaveopt else { throw .badMagic(expected: NBDMagic.ihaveopt, found: magic) }
        guard input.buffered >= 16 else { return nil }
        let code = NBDOption(rawValue: input.peek(8))
        let length: UInt32 = input.peek(12)
        guard Int(length) <= limits.maxOptionData else {
            input.consume(16)
            input.skip(UInt64(length))
            throw .optionTooLarge(code, length: length, limit: limits.maxOptionData)
        }
        guard input.buffered >= 16 + Int(length) else { return nil }
        input.consume(16)
        let option = try ClientOption.decode(code, data: input.take(Int(length)))
        // EXPORT_NAME ends the handshake either way: the server answers and transmits, or hangs up.
        if code == .exportName { phase = .transmission }
        return .option(option)
    }

    /// A 28-byte request (see `NBDRequest`); a WRITE's payload becomes the pending payload.
    private mutating func request() throws(NBDWireError) -> ClientMessage? {
        guard input.buffered >= 4 else { return nil }
        let magic: UInt32 = input.peek(0)
        guard magic != NBDMagic.extendedRequest else { throw .extendedHeadersNotNegotiated(magic: magic) }
        guard magic == NBDMagic.request else {
            throw .badMagic(expected: UInt64(NBDMagic.request), found: UInt64(magic))
        }
        guard input.buffered >= NBDRequest.headerLength else { return nil }
        let request = NBDRequest(
            flags: CommandFlags(rawValue: input.peek(4)), command: NBDCommand(rawValue: input.peek(6)),
            cookie: input.peek(8), offset: input.peek(16), length: input.peek(24))
        input.consume(NBDRequest.headerLength)
        guard request.payloadLength <= limits.maxPayload else {
            input.skip(UInt64(request.length))
            throw .writeTooLarge(request, limit: limits.maxPayload)
        }
        input.expectPayload(request.payloadLength)
        return .request(request)
    }
}
