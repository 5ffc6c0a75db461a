extension VirtualDisk {
    /// The extents a resync from `source` would move if it started now, computed without
    /// moving or changing anything: the union of both members' bitmaps through the same
    /// `ResyncPlanner` the engine runs, each mixed task split at the source's data and holes by
    /// the same walk the engine's workers use (`forEachSegment`). For measuring what the device
    /// allows for exactly this work (the benchmark replays the list with fio); not used by the
    /// engine.
    public func plannedResyncExtents(
        from source: Enclosure, maxIOSize: Int64 = ResyncOptions.defaultMaxIOSize
    ) throws(RDRError) -> [ResyncExtent] {
        let fd = images[source.index]
        var planner = ResyncPlanner(work: unionOfBitmaps(), geometry: geometry, maxIOSize: maxIOSize, source: fd)
        var out: [ResyncExtent] = []
        try io { () throws(Errno) in
            while let task = try planner.next() {
                switch task.kind {
                case .punch:
                    out.append(ResyncExtent(kind: .punch, bytes: task.bytes))
                case .copy where task.allData:
                    out.append(ResyncExtent(kind: .copy, bytes: task.bytes))
                case .copy:
                    _ = try fd.forEachSegment(
                        of: task.bytes,
                        hole: { (r) throws(Errno) in out.append(ResyncExtent(kind: .punch, bytes: r)) },
                        data: { (r) throws(Errno) in
                            out.append(ResyncExtent(kind: .copy, bytes: r))
                            return true
                        })
                }
            }
        }
        return out
    }
}
