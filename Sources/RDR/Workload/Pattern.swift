/// Deterministic test data: the bytes at any offset follow from (seed, offset) alone, so a
/// test or an oracle can recompute what a write put on disk. xorshift64* per 8-byte word.
public enum Pattern {
    @inline(__always)
    static func word(seed: UInt64, index: UInt64) -> UInt64 {
        var x = (seed &+ 0x9E37_79B9_7F4A_7C15) ^ (index &* 0xBF58_476D_1CE4_E5B9)
        x ^= x >> 30
        x = x &* 0xBF58_476D_1CE4_E5B9
        x ^= x >> 27
        x = x &* 0x94D0_49BB_1331_11EB
        x ^= x >> 31
        return x
    }

    /// Fills `buffer` with the pattern bytes of disk offsets [offset, offset + count).
    public static func fill(_ buffer: UnsafeMutableRawPointer, count: Int, seed: UInt64, offset: Int64) {
        var i = 0
        while i < count {
            let pos = UInt64(offset) + UInt64(i)
            let w = word(seed: seed, index: pos / 8)
            let byteInWord = Int(pos % 8)
            let take = min(8 - byteInWord, count - i)
            withUnsafeBytes(of: w.littleEndian) { raw in
                for k in 0..<take { buffer.storeBytes(of: raw[byteInWord + k], toByteOffset: i + k, as: UInt8.self) }
            }
            i += take
        }
    }

    public static func bytes(count: Int, seed: UInt64, offset: Int64) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress { fill(base, count: count, seed: seed, offset: offset) }
        }
        return out
    }
}
