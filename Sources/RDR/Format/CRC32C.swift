import CRDRSys

/// CRC-32C (Castagnoli). Checksums every metadata slot and bitmap page. The work is in C
/// (`rdr_crc32c`): the SSE4.2 instruction where the CPU has it (opening a 1 TiB disk checksums
/// 17 MB of pages), slicing-by-8 tables elsewhere.
public enum CRC32C {
    public static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress else { return seed }
        return rdr_crc32c(seed, base, bytes.count)
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
