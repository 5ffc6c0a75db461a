import Foundation

/// Mode transitions. Each holds the whole disk (no write in flight) and persists the new
/// record to both members before returning.
extension VirtualDisk {
    /// Duplex → split: from now on each side writes its own member and they diverge.
    /// `primary` picks the enclosure that becomes the Production Side.
    public func split(primary: Enclosure? = nil) throws(RDRError) {
        try requireWritable()
        try ranges.withLock([wholeDisk]) { () throws(RDRError) in
            try state.withLock { (s) throws(RDRError) in
                let r = s.record
                guard r.mode == .duplex else {
                    throw RDRError(.invalidState, "disk '\(name)' is \(r.mode), not duplexed; only a duplexed disk can be split")
                }
                guard s.bitmaps[0].isEmpty && s.bitmaps[1].isEmpty else {
                    throw RDRError(.invalidState, "disk '\(name)' has \(ByteSize.format(bytes(of: s.bitmaps[0]) + bytes(of: s.bitmaps[1]))) of interrupted writes not yet resynced; run 'rdr disk resync \(name) --from \(r.primary)' first")
                }
                var next = r
                next.mode = .split
                next.primary = primary ?? r.primary
                next.baseGeneration = r.generations[0]
                next.generations = [Self.newGeneration(), Self.newGeneration()]
                try commit(&next, in: &s, first: next.primary)
                s.duplexMarked.clearAll()
                s.interruptedAtOpen.clearAll()
            }
        }
    }

    /// Split → merged: system disks run on the Upgrade member (the Production member is frozen
    /// for abort); data disks stay on the Production member.
    public func merge() throws(RDRError) {
        try requireWritable()
        try ranges.withLock([wholeDisk]) { () throws(RDRError) in
            try state.withLock { (s) throws(RDRError) in
                guard s.record.mode == .split else {
                    throw RDRError(.invalidState, "disk '\(name)' is \(s.record.mode); only a split disk can be merged")
                }
                var next = s.record
                next.mode = .merged
                try commit(&next, in: &s, first: next.primary.other)
            }
        }
    }

    /// What a resync starts from: the regions still to copy and the plan's fixed total.
    struct ResyncStart {
        let source: Enclosure
        let work: DirtyBitmap
        let planBytes: Int64
        let doneBefore: Int64
    }

    /// Fixes the copy set and the direction durably, in this order: the union of both bitmaps
    /// into the target's bitmap; the record (resyncing, source, plan) to target then source;
    /// then the source's bitmap is cleared. Any crash in between resumes to the same union.
    func beginResync(from source: Enclosure, extra: DirtyBitmap? = nil) throws(RDRError) -> ResyncStart? {
        try requireWritable()
        let target = source.other
        return try ranges.withLock([wholeDisk]) { () throws(RDRError) -> ResyncStart? in
            try state.withLock { (s) throws(RDRError) -> ResyncStart? in
                let r = s.record
                if r.mode == .resyncing, let current = r.resyncSource, current != source {
                    throw RDRError(.invalidState, "disk '\(name)' is being resynced from \(current) to \(current.other), and member \(current.other) is partly overwritten; resume it with 'rdr disk resync \(name) --from \(current)' (or, to keep member \(source) instead, 'rdr disk resync \(name) --from \(source) --full --force', which overwrites member \(current) where it differs)")
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
                    next.planBytes = UInt64(bytes(of: union))
                    next.resyncStartedMillis = UInt64(Date().timeIntervalSince1970 * 1000)
                    next.modeBeforeResync = r.mode
                    try commit(&next, in: &s, first: target)
                }
                s.bitmaps[source.index].clearAll()
                try persist(source, in: &s)
                s.duplexMarked.clearAll()
                s.interruptedAtOpen.clearAll()
                let remaining = bytes(of: union)
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
                let g = Self.newGeneration()
                next.mode = .duplex
                next.resyncSource = nil
                next.planBytes = 0
                next.resyncStartedMillis = 0
                next.modeBeforeResync = nil
                next.baseGeneration = g
                next.generations = [g, g]
                try commit(&next, in: &s, first: source.other)
                s.mirroredDuringResync = nil
            }
        }
    }
}
