// Decoding of structured chunk payloads (what a client receives), once the decoder has framed a
// whole chunk. OFFSET_DATA is framed by the decoder itself, its data being a pending payload.
// Layouts: TransmissionMessages.swift.

extension ChunkBody {
    /// The typed body of a chunk of `type` with `payload` (any type but OFFSET_DATA). A payload
    /// that breaks its type's layout throws `PayloadReader.Failure`.
    static func decode(_ type: ChunkType, payload: [UInt8]) throws(PayloadReader.Failure) -> ChunkBody {
        var reader = PayloadReader(payload)
        switch type {
        case .none:
            try reader.expectEnd("NBD_REPLY_TYPE_NONE, which carries no payload")
            return .none
        case .offsetHole:
            let offset = try reader.read(UInt64.self, "offset")
            let size = try reader.read(UInt32.self, "hole size")
            try reader.expectEnd("NBD_REPLY_TYPE_OFFSET_HOLE")
            guard size != 0 else { throw .invalid("hole size is 0") }
            return .offsetHole(offset: offset, length: size)
        case .blockStatus: return try decodeBlockStatus(&reader)
        case .error:
            let (error, message) = try decodeErrorStart(&reader)
            try reader.expectEnd("the error message")
            return .error(error, message: message)
        case .errorOffset:
            let (error, message) = try decodeErrorStart(&reader)
            let offset = try reader.read(UInt64.self, "error offset")
            try reader.expectEnd("the error offset")
            return .errorOffset(error, message: message, offset: offset)
        default:
            return .other(type, payload: payload)
        }
    }

    /// Context ID, then one or more (length ≠ 0, flags) descriptors filling the payload exactly.
    private static func decodeBlockStatus(_ reader: inout PayloadReader) throws(PayloadReader.Failure) -> ChunkBody {
        let contextID = try reader.read(UInt32.self, "context ID")
        guard reader.remaining > 0, reader.remaining % 8 == 0 else {
            throw .invalid("\(reader.remaining) bytes of descriptors, not a positive multiple of 8")
        }
        var extents: [BlockDescriptor] = []
        extents.reserveCapacity(reader.remaining / 8)
        while !reader.atEnd {
            let length = try reader.read(UInt32.self, "extent length")
            let flags = try reader.read(UInt32.self, "status flags")
            guard length != 0 else { throw .invalid("extent \(extents.count) has length 0") }
            extents.append(BlockDescriptor(length: length, flags: flags))
        }
        return .blockStatus(contextID: contextID, extents: extents)
    }

    /// The start every error chunk shares: a nonzero error, a 16-bit message length, the message.
    private static func decodeErrorStart(_ reader: inout PayloadReader) throws(PayloadReader.Failure) -> (
        NBDErrno, String
    ) {
        let error = NBDErrno(rawValue: try reader.read(UInt32.self, "error value"))
        guard error != .ok else { throw .invalid("error value is 0") }
        let length = Int(try reader.read(UInt16.self, "message length"))
        return (error, try reader.text(length, "message"))
    }
}
