/// One I/O a resync would issue on its target: a copy of `bytes` from the source (one read and
/// one write, at most the maximum I/O size) or a hole punched over `bytes`.
public struct ResyncExtent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case copy, punch }
    public let kind: Kind
    public let bytes: Range<Int64>

    public init(kind: Kind, bytes: Range<Int64>) {
        self.kind = kind
        self.bytes = bytes
    }
}

extension VirtualDisk {
    /// The extents a resync from `source` would move if it started now, computed without
    /// moving or changing anything: the union of both members' bitmaps through the same
    /// `ResyncPlanner` the engine runs, with each mixed task split at the source's data and
    /// holes the way the engine's workers split it. For measuring what the device allows for
    /// exactly this work (the benchmark replays the list with fio); not used by the engine.
    public func plannedResyncExtents(from source: Enclosure,
                                     maxIOSize: Int64 = ResyncOptions.defaultMaxIOSize) throws(RDRError) -> [ResyncExtent] {
        var union = bitmap(.ten)
        union.formUnion(bitmap(.eleven))
        let fd = images[source.index]
        var planner = ResyncPlanner(work: union, regionSize: regionSize, size: size, maxIOSize: maxIOSize, source: fd)
        var out: [ResyncExtent] = []
        try io { () throws(Errno) in
            while let task = try planner.next() {
                switch task.kind {
                case .punch:
                    out.append(ResyncExtent(kind: .punch, bytes: task.bytes))
                case .copy where task.allData:
                    out.append(ResyncExtent(kind: .copy, bytes: task.bytes))
                case .copy:
                    try Self.split(task.bytes, source: fd, into: &out)
                }
            }
        }
        return out
    }

    /// A mixed range as the engine's worker does it: data segments copied, holes punched.
    private static func split(_ range: Range<Int64>, source: FileDescriptor, into out: inout [ResyncExtent]) throws(Errno) {
        var pos = range.lowerBound
        let end = range.upperBound
        while pos < end {
            let d = min(try source.nextData(from: pos) ?? end, end)
            if d > pos { out.append(ResyncExtent(kind: .punch, bytes: pos..<d)) }
            if d >= end { return }
            let h = min(try source.nextHole(from: d), end)
            out.append(ResyncExtent(kind: .copy, bytes: d..<h))
            pos = h
        }
    }
}
