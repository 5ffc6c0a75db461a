/// What `verify` found.
public struct VerifyReport: Sendable {
    public var disk: String
    public var mismatched: DirtyBitmap
    /// Mismatched regions that neither member's bitmap marks: members were "in sync" there, so
    /// an image was replaced, swapped or written behind rdr's back.
    public var unexplained: DirtyBitmap
    public var regionSize: Int64
    public var size: Int64
    public var bytesCompared: Int64
    public var seconds: Double
    /// Set when `repairFrom` was given and mismatches were resynced.
    public var repair: ResyncSummary?

    var geometry: RegionGeometry { RegionGeometry(size: size, regionSize: regionSize) }

    public var mismatchedBytes: Int64 { geometry.byteCount(of: mismatched) }

    /// Mismatched byte ranges, coalesced.
    public var mismatchedRanges: [Range<Int64>] { geometry.byteRanges(of: mismatched) }
}
