/// Resync: the copy set (the union of both bitmaps) and the direction are fixed durably first
/// (`beginResync`), then `ResyncEngine` copies, checkpoints and ends it (`finishResync`).
extension VirtualDisk {
    /// What a resync starts from: the regions still to copy and the plan's fixed total.
    struct ResyncStart: Sendable {
        let source: Enclosure
        let work: DirtyBitmap
        let planBytes: Int64
        let doneBefore: Int64
    }

    /// Fixes a resync's direction and copy set durably without copying anything: from here a
    /// crash, a `resync(from:)` in this process or a background worker all continue the same
    /// resync. Returns false when there is nothing to copy (an in-sync duplex disk).
    @discardableResult
    public func beginResync(from source: Enclosure) throws(RDRError) -> Bool {
        try fixResync(from: source) != nil
    }

    /// The first name of `beginResync(from:)`, kept while the upgrade layer moves to it.
    @discardableResult
    public func startResync(from source: Enclosure) throws(RDRError) -> Bool {
        try beginResync(from: source)
    }

    /// Copies the union of both members' dirty regions from `source` to the other member and
    /// returns both identical, duplexed, with empty bitmaps. Resumes an interrupted resync in
    /// the same direction. `extra` adds regions to copy (verify's repair).
    public func resync(
        from source: Enclosure, options: ResyncOptions = ResyncOptions(), extra: DirtyBitmap? = nil,
        observer: (@Sendable (ResyncProgress) -> Void)? = nil
    ) throws(RDRError) -> ResyncSummary {
        try options.validate()
        // In an owner process another thread may be resyncing this very instance.
        let owner = SystemOwnership.shared.owner(of: system.path)
        try owner?.beginResync(disk: name, from: source, cancellation: options.cancellation)
        defer { owner?.endResync(disk: name) }
        guard let start = try fixResync(from: source, extra: extra) else {
            return ResyncSummary(
                disk: name, source: source, target: source.other, bytesPlanned: 0, bytesDoneBefore: 0,
                bytesCopied: 0, bytesPunched: 0, checkpoints: 0, seconds: 0)
        }
        return try ResyncEngine(disk: self, start: start, options: options).run(observer: observer)
    }

    /// Fixes the copy set and the direction durably, in this order: the union of both bitmaps
    /// into the target's bitmap; the record (resyncing, source, plan) to target then source;
    /// then the source's bitmap is cleared. Any crash in between resumes to the same union.
    /// Nil when there is nothing to do.
    func fixResync(from source: Enclosure, extra: DirtyBitmap? = nil) throws(RDRError) -> ResyncStart? {
        try requireWritable()
        let target = source.other
        return try ranges.withLock([wholeDisk]) { () throws(RDRError) -> ResyncStart? in
            try state.withLock { (s) throws(RDRError) -> ResyncStart? in
                let r = s.record
                if r.mode == .resyncing, let current = r.resyncSource, current != source {
                    throw RDRError(
                        .invalidState,
                        "disk '\(name)' is being resynced from \(current) to "
                            + "\(current.other), and member \(current.other) is partly overwritten; resume it with "
                            + "'rdr disk resync \(name) --from \(current)' (or, to keep member \(source) instead, "
                            + "'rdr disk resync \(name) --from \(source) --full --force', which overwrites member "
                            + "\(current) where it differs)")
                }
                var union = s.bitmaps[target.index]
                union.formUnion(s.bitmaps[source.index])
                if let extra { union.formUnion(extra) }
                if r.mode == .duplex && union.isEmpty { return nil }
                s.bitmaps[target.index] = union
                try persist(target, in: &s)
                var next = r
                if r.mode != .resyncing {
                    next.mode = .resyncing
                    next.resyncSource = source
                    next.planBytes = UInt64(geometry.byteCount(of: union))
                    next.resyncStartedMillis = UInt64(max(0, sys.clock.wallMillis()))
                    next.modeBeforeResync = r.mode
                    try writeRecord(&next, in: &s, first: target)
                }
                s.bitmaps[source.index].clearAll()
                try persist(source, in: &s)
                s.duplexMarked.clearAll()
                s.interruptedAtOpen.clearAll()
                let remaining = geometry.byteCount(of: union)
                let plan = max(Int64(next.planBytes), remaining)
                return ResyncStart(source: source, work: union, planBytes: plan, doneBefore: plan - remaining)
            }
        }
    }

    /// Ends a resync: both members durable, both bitmaps empty, one new generation on both.
    func finishResync() throws(RDRError) {
        try ranges.withLock([wholeDisk]) { () throws(RDRError) in
            for fd in images { try io { () throws(Errno) in try fd.dataSync() } }
            try state.withLock { (s) throws(RDRError) in
                guard let source = s.record.resyncSource else { return }
                s.bitmaps[0].clearAll()
                s.bitmaps[1].clearAll()
                try persist(source.other, in: &s)
                try persist(source, in: &s)
                var next = s.record
                let g = newGeneration()
                next.mode = .duplex
                next.resyncSource = nil
                next.planBytes = 0
                next.resyncStartedMillis = 0
                next.modeBeforeResync = nil
                next.baseGeneration = g
                next.generations = [g, g]
                try writeRecord(&next, in: &s, first: source.other)
                s.mirroredDuringResync = nil
            }
        }
    }

    /// Marks the start and end of a resync run in this process: writes that land meanwhile go
    /// to both members and are noted, so a checkpoint never clears their bits.
    func trackWritesDuringResync(_ on: Bool) {
        state.withLock { $0.mirroredDuringResync = on ? DirtyBitmap(regionCount: regionCount) : nil }
    }
}
