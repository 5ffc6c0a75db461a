/// Region ↔ byte arithmetic of one disk, in one place: `size` bytes cut into regions of
/// `regionSize` bytes (the bitmap's unit), of which the last may be partial. The mirror, the
/// resync planner, verify and their reports all count bytes and regions through this.
public struct RegionGeometry: Sendable, Equatable {
    public let size: Int64
    public let regionSize: Int64
    public let regionCount: Int

    /// Overflow-safe for any size a header can claim (up to `Int64.max`); a region size that is
    /// not positive gives no regions.
    public init(size: Int64, regionSize: Int64) {
        self.size = max(0, size)
        self.regionSize = regionSize
        regionCount = regionSize > 0 ? Int(self.size / regionSize + (self.size % regionSize == 0 ? 0 : 1)) : 0
    }

    /// The regions `bytes` touches, partial ones included (empty for an empty range).
    public func regions(of bytes: Range<Int64>) -> Range<Int> {
        guard !bytes.isEmpty else { return 0..<0 }
        return region(containing: bytes.lowerBound)..<region(containing: bytes.upperBound - 1) + 1
    }

    /// The bytes of a run of regions, the last region cut at the end of the disk.
    public func bytes(of regions: Range<Int>) -> Range<Int64> {
        start(of: regions.lowerBound)..<min(start(of: regions.upperBound), size)
    }

    /// The region that holds byte `offset`.
    public func region(containing offset: Int64) -> Int { Int(offset / regionSize) }

    /// The first byte of `region`.
    public func start(of region: Int) -> Int64 { Int64(region) * regionSize }

    /// `offset` moved down to the start of its region.
    public func regionStart(atOrBefore offset: Int64) -> Int64 { offset / regionSize * regionSize }

    /// `offset` moved up to the next region boundary (itself when it is one).
    public func regionBoundary(atOrAfter offset: Int64) -> Int64 {
        let down = regionStart(atOrBefore: offset)
        return down == offset ? offset : down + regionSize
    }

    /// The region after the last one that `offset` reaches into: the end of a run ending at
    /// `offset`, rounded up.
    public func regionEnd(at offset: Int64) -> Int { region(containing: regionBoundary(atOrAfter: offset)) }

    /// Bytes the set regions of `bitmap` cover, the partial last region counted by its length.
    public func byteCount(of bitmap: DirtyBitmap) -> Int64 {
        var total = Int64(bitmap.count) * regionSize
        if bitmap.regionCount > 0, bitmap.isSet(bitmap.regionCount - 1) {
            total -= start(of: bitmap.regionCount) - size
        }
        return total
    }

    /// The set regions of `bitmap` as byte ranges, adjacent regions coalesced.
    public func byteRanges(of bitmap: DirtyBitmap) -> [Range<Int64>] { bitmap.runs.map { bytes(of: $0) } }
}
