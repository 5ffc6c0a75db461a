import Glibc

extension FileDescriptor {
    /// Walks `range` of this file (a resync's source) as its allocation map splits it, in
    /// order: `hole` for each run without data, `data` for each data run. Returns false as soon
    /// as `data` does. Resync workers copy and punch a mixed task this way, and
    /// `plannedResyncExtents` lists the same extents, so the two never disagree.
    func forEachSegment(
        of range: Range<Int64>, hole: (Range<Int64>) throws(Errno) -> Void,
        data: (Range<Int64>) throws(Errno) -> Bool
    ) throws(Errno) -> Bool {
        var pos = range.lowerBound
        let end = range.upperBound
        while pos < end {
            let d = min(try nextData(from: pos) ?? end, end)
            if d > pos { try hole(pos..<d) }
            if d >= end { break }
            let h = min(try nextHole(from: d), end)
            // Data at `d` ends after `d`; a file changing under the walk must not stall it.
            guard h > d else { throw Errno(code: EIO, operation: "seek hole (no progress at \(d))", path: path) }
            guard try data(d..<h) else { return false }
            pos = h
        }
        return true
    }
}
