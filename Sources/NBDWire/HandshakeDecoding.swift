// Decoding of option data (what a server receives) and option reply data (what a client
// receives), once the decoder has framed a whole message. Layouts: HandshakeMessages.swift.

extension ClientOption {
    /// The typed option for `code` and its `data`. Invalid data throws `.invalidOption`, which a
    /// server answers with NBD_REP_ERR_INVALID before reading the next option.
    static func decode(_ code: NBDOption, data: [UInt8]) throws(NBDWireError) -> ClientOption {
        var reader = PayloadReader(data)
        do throws(PayloadReader.Failure) {
            switch code {
            case .exportName: return .exportName(try reader.name(data.count, "export name"))
            case .abort: return .abort  // proto.md: a server SHOULD ignore data sent with ABORT
            case .list:
                try reader.expectNoData(code)
                return .list
            case .structuredReply:
                try reader.expectNoData(code)
                return .structuredReply
            case .info: return .info(try ExportRequest.decode(&reader))
            case .go: return .go(try ExportRequest.decode(&reader))
            case .listMetaContext: return .listMetaContext(try MetaContextRequest.decode(&reader))
            case .setMetaContext: return .setMetaContext(try MetaContextRequest.decode(&reader))
            default: return .other(code, data: data)
            }
        } catch {
            throw .invalidOption(code, reason: error.reason)
        }
    }
}

extension PayloadReader {
    /// LIST and STRUCTURED_REPLY carry no data; proto.md: the server SHOULD answer ERR_INVALID.
    func expectNoData(_ code: NBDOption) throws(Failure) {
        guard atEnd else { throw .invalid("\(code) carries no data, but \(remaining) bytes came with it") }
    }
}

extension ExportRequest {
    static func decode(_ reader: inout PayloadReader) throws(PayloadReader.Failure) -> ExportRequest {
        let name = try reader.name32("export name")
        let count = Int(try reader.read(UInt16.self, "number of information requests"))
        // Checked before reading so that the count alone allocates nothing.
        guard reader.remaining >= 2 * count else { throw .truncated("list of \(count) information requests") }
        var requests: [NBDInfo] = []
        requests.reserveCapacity(count)
        for _ in 0..<count { requests.append(NBDInfo(rawValue: try reader.read(UInt16.self, "information request"))) }
        try reader.expectEnd("the information requests")
        return ExportRequest(name: name, infoRequests: requests)
    }
}

extension MetaContextRequest {
    static func decode(_ reader: inout PayloadReader) throws(PayloadReader.Failure) -> MetaContextRequest {
        let exportName = try reader.name32("export name")
        let count = try reader.read(UInt32.self, "number of queries")
        // Each query takes at least its 4-byte length: a count the data cannot hold is refused
        // before anything is reserved for it.
        guard UInt64(count) * 4 <= UInt64(reader.remaining) else { throw .truncated("list of \(count) queries") }
        var queries: [String] = []
        queries.reserveCapacity(Int(count))
        for _ in 0..<count { queries.append(try reader.name32("query")) }
        try reader.expectEnd("the queries")
        return MetaContextRequest(exportName: exportName, queries: queries)
    }
}

extension OptionReply {
    /// The typed reply body of `type` answering `option`. Invalid data throws
    /// `.invalidOptionReply` (the reply's bytes are consumed; the client decides what to do).
    static func decodeBody(option: NBDOption, type: OptionReplyType, data: [UInt8]) throws(NBDWireError)
        -> OptionReplyBody
    {
        var reader = PayloadReader(data)
        do throws(PayloadReader.Failure) {
            switch type {
            case .ack:
                try reader.expectEnd("NBD_REP_ACK, which carries no data")
                return .ack
            case .server:
                let name = try reader.name32("export name")
                return .server(name: name, details: try reader.text(reader.remaining, "details"))
            case .info: return .info(try InfoItem.decode(&reader))
            case .metaContext:
                let id = try reader.read(UInt32.self, "context ID")
                return .metaContext(id: id, name: try reader.name(reader.remaining, "context name"))
            default:
                if type.isError { return .error(type, message: try reader.text(data.count, "message")) }
                return .other(type, data: data)
            }
        } catch {
            throw .invalidOptionReply(option, type, reason: error.reason)
        }
    }
}

extension InfoItem {
    static func decode(_ reader: inout PayloadReader) throws(PayloadReader.Failure) -> InfoItem {
        let type = NBDInfo(rawValue: try reader.read(UInt16.self, "information type"))
        switch type {
        case .export:
            let size = try reader.read(UInt64.self, "export size")
            let flags = TransmissionFlags(rawValue: try reader.read(UInt16.self, "transmission flags"))
            try reader.expectEnd("NBD_INFO_EXPORT")
            return .export(size: size, flags: flags)
        case .name: return .name(try reader.name(reader.remaining, "export name"))
        case .description: return .description(try reader.text(reader.remaining, "description"))
        case .blockSize:
            let minimum = try reader.read(UInt32.self, "minimum block size")
            let preferred = try reader.read(UInt32.self, "preferred block size")
            let maximum = try reader.read(UInt32.self, "maximum payload size")
            try reader.expectEnd("NBD_INFO_BLOCK_SIZE")
            return .blockSize(BlockSizeConstraints(minimum: minimum, preferred: preferred, maximum: maximum))
        default: return .other(type, data: reader.rest())
        }
    }
}
