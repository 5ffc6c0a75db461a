// Encoders of the handshake messages; the byte layouts are documented on the types
// (HandshakeMessages.swift). Each appends to a caller's buffer so several messages can be sent
// with one write.

/// A message that can be put on the wire.
public protocol NBDEncodable {
    /// Appends the message's bytes, big-endian, to `out`.
    func encode(into out: inout [UInt8])
}

extension NBDEncodable {
    /// The message's bytes.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }
}

extension ServerGreeting: NBDEncodable {
    public func encode(into out: inout [UInt8]) {
        out.appendBE(NBDMagic.nbdMagic)
        out.appendBE(NBDMagic.ihaveopt)
        out.appendBE(flags.rawValue)
    }
}

extension ClientFlags: NBDEncodable {
    public func encode(into out: inout [UInt8]) { out.appendBE(rawValue) }
}

extension ClientOption: NBDEncodable {
    public func encode(into out: inout [UInt8]) {
        out.appendBE(NBDMagic.ihaveopt)
        out.appendBE(code.rawValue)
        let lengthAt = out.count
        out.appendBE(UInt32(0))
        switch self {
        case .exportName(let name): out.append(contentsOf: name.utf8)
        case .abort, .list, .structuredReply: break
        case .info(let request), .go(let request): request.encode(into: &out)
        case .listMetaContext(let request), .setMetaContext(let request): request.encode(into: &out)
        case .other(_, let data): out.append(contentsOf: data)
        }
        out.patchBE32(UInt32(out.count - lengthAt - 4), at: lengthAt)
    }
}

extension ExportRequest {
    /// Appends the NBD_OPT_INFO / NBD_OPT_GO data (at most 65,535 information requests fit).
    func encode(into out: inout [UInt8]) {
        out.appendString32(name)
        let requests = infoRequests.prefix(Int(UInt16.max))
        out.appendBE(UInt16(requests.count))
        for info in requests { out.appendBE(info.rawValue) }
    }
}

extension MetaContextRequest {
    /// Appends the NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT data.
    func encode(into out: inout [UInt8]) {
        out.appendString32(exportName)
        out.appendBE(UInt32(queries.count))
        for query in queries { out.appendString32(query) }
    }
}

extension OptionReply: NBDEncodable {
    public func encode(into out: inout [UInt8]) {
        out.appendBE(NBDMagic.optionReply)
        out.appendBE(option.rawValue)
        out.appendBE(body.type.rawValue)
        let lengthAt = out.count
        out.appendBE(UInt32(0))
        switch body {
        case .ack: break
        case .server(let name, let details):
            out.appendString32(name)
            out.append(contentsOf: details.utf8)
        case .info(let item): item.encode(into: &out)
        case .metaContext(let id, let name):
            out.appendBE(id)
            out.append(contentsOf: name.utf8)
        case .error(_, let message): out.append(contentsOf: humanText(message))
        case .other(_, let data): out.append(contentsOf: data)
        }
        out.patchBE32(UInt32(out.count - lengthAt - 4), at: lengthAt)
    }
}

extension InfoItem {
    /// Appends the NBD_REP_INFO data: the 2-byte type, then the item's payload.
    func encode(into out: inout [UInt8]) {
        out.appendBE(type.rawValue)
        switch self {
        case .export(let size, let flags):
            out.appendBE(size)
            out.appendBE(flags.rawValue)
        case .name(let text), .description(let text): out.append(contentsOf: text.utf8)
        case .blockSize(let sizes):
            out.appendBE(sizes.minimum)
            out.appendBE(sizes.preferred)
            out.appendBE(sizes.maximum)
        case .other(_, let data): out.append(contentsOf: data)
        }
    }
}

extension ExportNameReply: NBDEncodable {
    public func encode(into out: inout [UInt8]) {
        out.appendBE(size)
        out.appendBE(flags.rawValue)
        if zeroPadding { out.appendZeroes(Self.paddingLength) }
    }
}

/// The UTF-8 bytes of a message for humans, cut at a character boundary to proto.md's 4096-byte
/// string limit (a longer message would break the peer's limit, and ERROR chunks have 16 bits).
func humanText(_ message: String) -> [UInt8] {
    if message.utf8.count <= NBDString.maxLength { return Array(message.utf8) }
    var bytes: [UInt8] = []
    for scalar in message.unicodeScalars {
        guard bytes.count + scalar.utf8.count <= NBDString.maxLength else { break }
        bytes.append(contentsOf: scalar.utf8)
    }
    return bytes
}
