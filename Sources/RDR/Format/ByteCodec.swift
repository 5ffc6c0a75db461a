/// Little-endian encoding into a fixed-size byte array (metadata slots are fixed 4 KiB blocks),
/// each field at its named offset (`MetadataLayout`).
struct ByteWriter {
    private(set) var bytes: [UInt8]

    init(size: Int) { bytes = [UInt8](repeating: 0, count: size) }

    mutating func put<T: FixedWidthInteger>(_ value: T, at position: Int) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for (i, b) in raw.enumerated() { bytes[position + i] = b }
        }
    }

    mutating func put(bytes data: [UInt8], at position: Int) {
        for (i, b) in data.enumerated() { bytes[position + i] = b }
    }
}

/// Bounds-checked little-endian decoding at named offsets; a read past the end throws instead
/// of trapping, because the bytes come from disk and may be anything.
struct ByteReader {
    let bytes: [UInt8]

    struct OutOfBounds: Error {}

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func get<T: FixedWidthInteger>(_: T.Type, at offset: Int) throws(OutOfBounds) -> T {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset + size <= bytes.count else { throw OutOfBounds() }
        var value: T = 0
        for i in 0..<size { value |= T(truncatingIfNeeded: bytes[offset + i]) << (8 * i) }
        return value
    }

    func get(count: Int, at offset: Int) throws(OutOfBounds) -> [UInt8] {
        guard count >= 0, offset >= 0, offset + count <= bytes.count else { throw OutOfBounds() }
        return Array(bytes[offset..<offset + count])
    }
}

extension Array where Element == UInt8 {
    func le32(at position: Int) -> UInt32 {
        guard position >= 0, position + 4 <= count else { return 0 }
        return UInt32(self[position]) | UInt32(self[position + 1]) << 8 | UInt32(self[position + 2]) << 16 | UInt32(
            self[position + 3]) << 24
    }

    var isAllZero: Bool { allSatisfy { $0 == 0 } }
}

/// `Array.withUnsafeBytes` with a typed error (the standard library's is `rethrows`, untyped).
func withBytes<T, E: Error>(_ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(E) -> T) throws(E) -> T {
    let result: Result<T, E> = array.withUnsafeBytes { raw in
        do throws(E) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    return try result.get()
}

func withMutableBytes<T, E: Error>(_ array: inout [UInt8], _ body: (UnsafeMutableRawBufferPointer) throws(E) -> T)
    throws(E) -> T
{
    let result: Result<T, E> = array.withUnsafeMutableBytes { raw in
        do throws(E) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    return try result.get()
}
