// Big-endian byte helpers: proto.md sends every integer in network byte order.

extension Array where Element == UInt8 {
    /// Appends an integer in big-endian order.
    mutating func appendBE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }

    /// Appends a length-prefixed string: a 32-bit byte count, then the UTF-8 bytes.
    mutating func appendString32(_ string: String) {
        appendBE(UInt32(string.utf8.count))
        append(contentsOf: string.utf8)
    }

    /// Appends `count` zero bytes.
    mutating func appendZeroes(_ count: Int) {
        append(contentsOf: repeatElement(0, count: count))
    }

    /// Overwrites 4 bytes at `position` with a big-endian length, once the data after it is known.
    mutating func patchBE32(_ value: UInt32, at position: Int) {
        for i in 0..<4 { self[position + i] = UInt8(truncatingIfNeeded: value >> (24 - 8 * i)) }
    }
}

/// Reads big-endian fields from a message's payload. Every read checks the bytes are there; a
/// field past the end throws `.truncated` naming the field, which the decoder turns into an
/// "invalid option/reply/chunk" error (never a trap, never an allocation from the length).
struct PayloadReader {
    enum Failure: Error {
        /// The named field runs past the end of the payload.
        case truncated(String)
        /// The payload breaks a rule of proto.md, described for the peer's operator.
        case invalid(String)

        var reason: String {
            switch self {
            case .truncated(let field): "\(field) runs past the end of the data"
            case .invalid(let reason): reason
            }
        }
    }

    let bytes: [UInt8]
    private(set) var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - position }
    var atEnd: Bool { position == bytes.count }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ field: String) throws(Failure) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw .truncated(field) }
        var value: T = 0
        for i in 0..<size { value = value << 8 | T(bytes[position + i]) }
        position += size
        return value
    }

    mutating func bytes(_ count: Int, _ field: String) throws(Failure) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw .truncated(field) }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    /// The rest of the payload.
    mutating func rest() -> [UInt8] {
        defer { position = bytes.count }
        return Array(bytes[position...])
    }

    /// A name (export, context, query): proto.md "Conventions" says it MUST be UTF-8, MUST NOT
    /// contain NUL and MUST be at most 4096 bytes. Names are matched and echoed, so they are
    /// decoded strictly: a name that breaks a rule makes its message invalid.
    mutating func name(_ count: Int, _ field: String) throws(Failure) -> String {
        guard count <= remaining else { throw .truncated(field) }
        guard count <= NBDString.maxLength else {
            throw .invalid("\(field) is \(count) bytes long, more than the \(NBDString.maxLength) allowed")
        }
        let raw = try bytes(count, field)
        guard !raw.contains(0) else { throw .invalid("\(field) contains a NUL byte") }
        guard let string = String(validating: raw, as: UTF8.self) else { throw .invalid("\(field) is not valid UTF-8") }
        return string
    }

    /// A 32-bit length, then a name of that length.
    mutating func name32(_ field: String) throws(Failure) -> String {
        let count = try read(UInt32.self, "\(field) length")
        return try name(Int(count), field)
    }

    /// Text for humans (error messages, descriptions): shown, never matched, so it is decoded
    /// leniently — invalid UTF-8 becomes U+FFFD rather than failing the whole reply.
    mutating func text(_ count: Int, _ field: String) throws(Failure) -> String {
        String(decoding: try bytes(count, field), as: UTF8.self)
    }

    /// Fails unless every byte was read: proto.md gives each payload an exact length.
    func expectEnd(_ what: String) throws(Failure) {
        guard atEnd else { throw .invalid("\(remaining) bytes left over after \(what)") }
    }
}
