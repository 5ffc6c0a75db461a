import RDR

/// A member's metadata file image: two header slots and the bitmap pages. Any bytes must be
/// either decoded or refused, never trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? MemberHeader.decode(Array(bytes.prefix(4096)) + [UInt8](repeating: 0, count: max(0, 4096 - bytes.count)))
    _ = MetadataFile.decode(image: bytes, maxRegions: 1 << 20)
    return 0
}
