/// Maps of a disk by extent, for block-status queries: where the member a side reads has holes,
/// and which regions each member's dirty bitmap marks.
extension VirtualDisk {
    /// A run of bytes that share one answer (a hole or data; dirty or clean).
    public struct Extent: Sendable, Equatable, CustomStringConvertible {
        public var length: Int64
        /// `isHole` for allocation maps, `isDirty` for bitmap maps.
        public var flag: Bool

        public init(length: Int64, flag: Bool) {
            self.length = length
            self.flag = flag
        }

        public var description: String { "\(length):\(flag)" }
    }

    /// Holes (`flag` true, they read as zeroes) and data (`flag` false) of the member `side`
    /// reads, from `offset` on, covering at most `length` bytes and at most `limit` extents (the
    /// map may end early; it never ends before its first extent). From SEEK_DATA / SEEK_HOLE.
    public func allocationExtents(side: SideSelector?, offset: Int64, length: Int64, limit: Int) throws(RDRError)
        -> [Extent]
    {
        try checkBounds(offset: offset, length: length)
        let image = images[try readMember(side, record).index]
        let end = offset + length
        var extents: [Extent] = []
        var at = offset
        while at < end, extents.count < max(limit, 1) {
            let data = try io { () throws(Errno) in try image.nextData(from: at) } ?? end
            let next: Int64
            if data > at {
                next = min(data, end)
            } else {
                next = min(try io { () throws(Errno) in try image.nextHole(from: at) }, end)
            }
            guard next > at else { break }  // a file shorter than the disk: nothing more to say
            append(Extent(length: next - at, flag: data > at), to: &extents)
            at = next
        }
        return extents
    }

    /// Dirty (`flag` true) and clean runs of member `e`'s bitmap from `offset` on, at region
    /// granularity, clipped to `[offset, offset + length)`, at most `limit` extents.
    public func dirtyExtents(of e: Enclosure, offset: Int64, length: Int64, limit: Int) throws(RDRError) -> [Extent] {
        try checkBounds(offset: offset, length: length)
        let end = offset + length
        return state.withLock { s in
            let bitmap = s.bitmaps[e.index]
            var extents: [Extent] = []
            var at = offset
            while at < end, extents.count < max(limit, 1) {
                let region = Int(at / regionSize)
                let dirty = bitmap.isSet(region)
                let runEnd = dirty ? bitmap.nextClear(from: region) : (bitmap.nextSet(from: region) ?? regionCount)
                let next = min(Int64(runEnd) * regionSize, end)
                append(Extent(length: next - at, flag: dirty), to: &extents)
                at = next
            }
            return extents
        }
    }

    private func append(_ extent: Extent, to extents: inout [Extent]) {
        if let last = extents.last, last.flag == extent.flag {
            extents[extents.count - 1].length += extent.length
        } else {
            extents.append(extent)
        }
    }
}
