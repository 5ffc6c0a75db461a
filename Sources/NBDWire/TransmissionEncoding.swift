// Encoders of the transmission messages; the byte layouts are documented on the types
// (TransmissionMessages.swift). Headers only: a WRITE's payload, a simple READ reply's data and an
// OFFSET_DATA chunk's data are sent by the caller right after the header (e.g. with writev), so
// large data is never copied into these buffers.

extension NBDRequest: NBDEncodable {
    /// Appends the 28-byte request header; a WRITE's `length` payload bytes must follow it.
    public func encode(into out: inout [UInt8]) {
        out.appendBE(NBDMagic.request)
        out.appendBE(flags.rawValue)
        out.appendBE(command.rawValue)
        out.appendBE(cookie)
        out.appendBE(offset)
        out.appendBE(length)
    }
}

extension SimpleReply: NBDEncodable {
    /// Appends the 16-byte simple reply header; after a successful READ its data must follow.
    public func encode(into out: inout [UInt8]) {
        out.appendBE(NBDMagic.simpleReply)
        out.appendBE(error.rawValue)
        out.appendBE(cookie)
    }
}

extension StructuredChunk: NBDEncodable {
    /// Appends the chunk. For `.offsetData` only the 28 bytes of header and offset are appended and
    /// the length field counts the `dataLength` bytes the caller sends next; `dataLength` must be at
    /// most 2^32 − 9 (proto.md: a larger read MUST be split into several chunks).
    public func encode(into out: inout [UInt8]) {
        out.appendBE(NBDMagic.structuredReply)
        out.appendBE(flags.rawValue)
        out.appendBE(body.type.rawValue)
        out.appendBE(cookie)
        let lengthAt = out.count
        out.appendBE(UInt32(0))
        var dataFollowing: UInt64 = 0
        switch body {
        case .none: break
        case .offsetData(let offset, let dataLength):
            out.appendBE(offset)
            dataFollowing = UInt64(dataLength)
        case .offsetHole(let offset, let length):
            out.appendBE(offset)
            out.appendBE(length)
        case .blockStatus(let contextID, let extents):
            out.appendBE(contextID)
            for extent in extents {
                out.appendBE(extent.length)
                out.appendBE(extent.flags)
            }
        case .error(let error, let message): appendError(error, message, into: &out)
        case .errorOffset(let error, let message, let offset):
            appendError(error, message, into: &out)
            out.appendBE(offset)
        case .other(_, let payload): out.append(contentsOf: payload)
        }
        let length = UInt64(out.count - lengthAt - 4) + dataFollowing
        out.patchBE32(UInt32(clamping: length), at: lengthAt)
    }

    /// The shared start of every error chunk: error, 16-bit message length, message.
    private func appendError(_ error: NBDErrno, _ message: String, into out: inout [UInt8]) {
        let text = humanText(message)
        out.appendBE(error.rawValue)
        out.appendBE(UInt16(text.count))
        out.append(contentsOf: text)
    }
}
