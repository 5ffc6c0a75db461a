extension VirtualDisk {
    /// Duplex → split: from now on each side writes its own member and they diverge.
    /// `primary` picks the enclosure that becomes the Production Side. Holds the whole disk (no
    /// write in flight) and persists the new record to both members before returning.
    public func split(primary: Enclosure? = nil) throws(RDRError) {
        try requireWritable()
        try ranges.withLock([wholeDisk]) { () throws(RDRError) in
            // Writes of this process (a live server's clients) are not interrupted ones: made
            // durable on both members, their bits go, as a flush would clear them.
            if hasUnsettledWrites { try settleWrites() }
            try state.withLock { (s) throws(RDRError) in
                let r = s.record
                guard r.mode == .duplex else {
                    throw RDRError(
                        .invalidState,
                        "disk '\(name)' is \(r.mode), not duplexed; only a duplexed disk can be split")
                }
                guard s.bitmaps[0].isEmpty && s.bitmaps[1].isEmpty else {
                    let interrupted = geometry.byteCount(of: s.bitmaps[0]) + geometry.byteCount(of: s.bitmaps[1])
                    throw RDRError(
                        .invalidState,
                        "disk '\(name)' has \(ByteSize.format(interrupted)) of interrupted "
                            + "writes not yet resynced; run 'rdr disk resync \(name) --from \(r.primary)' first")
                }
                var next = r
                next.mode = .split
                next.primary = primary ?? r.primary
                next.baseGeneration = r.generations[0]
                next.generations = [newGeneration(), newGeneration()]
                try writeRecord(&next, in: &s, first: next.primary)
                s.duplexMarked.clearAll()
                s.interruptedAtOpen.clearAll()
            }
        }
    }
}
