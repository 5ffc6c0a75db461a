/// The one path every change of a disk's bytes takes (writes, hole punches, written zeroes), so
/// write-intent, routing and the resync bookkeeping cannot differ between them.
extension VirtualDisk {
    /// Runs `apply` once for each member the route of `side` writes (returned, in order), after
    /// write-intent: every region the ranges touch is marked in the route's bitmaps, and a newly
    /// set bit is durable before any byte of its region is written.
    ///
    /// New bits are made durable by group commit (`WriteIntentCommit`): the sync runs outside
    /// the state mutex and covers every writer that set bits meanwhile, instead of one fdatasync
    /// per writer queued behind the mutex (fio, 4 × 16 random writes on fresh regions of a split
    /// disk: 4 KiB 23 → 105 MiB/s, 64 KiB 480 → 1200 MiB/s). Writers whose bits were already set
    /// need no sync: the range lock is taken on whole regions, so the writer that set a bit
    /// holds its region until the bit is durable. While resyncing, the resync's checkpoint may
    /// persist the same bitmap without range locks, so bits are then synced under the mutex as
    /// the checkpoint does. The route and the marks come from the record of one instant; a mode
    /// change (whole-disk range lock) happens wholly before or after.
    @discardableResult
    func mutate(
        side: SideSelector?, _ byteRanges: [Range<Int64>],
        apply: (FileDescriptor) throws(Errno) -> Void
    ) throws(RDRError) -> [Enclosure] {
        let byteRanges = byteRanges.filter { !$0.isEmpty }
        guard !byteRanges.isEmpty else {
            try requireWritable()
            return []
        }
        let regionRanges = byteRanges.map { geometry.bytes(of: geometry.regions(of: $0)) }
        foreground.begin()
        defer { foreground.end() }
        return try ranges.withLock(regionRanges) { () throws(RDRError) -> [Enclosure] in
            let (route, tickets) = try state.withLock { (s) throws(RDRError) -> (Route, [(Enclosure, UInt64)]) in
                // `requireWritable`'s checks, under the lock this section takes anyway (taking the
                // contended state mutex once per write instead of twice).
                guard writable else { throw RDRError(.invalidState, "disk '\(name)' was opened read-only") }
                if let problem = s.identity.error(disk: name, images: imagePaths) { throw problem }
                let route = try writeRoute(side, s.record)
                var tickets: [(Enclosure, UInt64)] = []
                for e in route.mark {
                    var changed = false
                    for range in byteRanges {
                        for r in geometry.regions(of: range) where s.bitmaps[e.index].set(r) { changed = true }
                    }
                    guard changed else { continue }
                    if route.mirroredDuringResync {
                        try persist(e, in: &s)
                    } else {
                        tickets.append((e, intentCommits[e.index].request()))
                    }
                }
                for range in byteRanges {
                    for r in geometry.regions(of: range) {
                        if s.record.mode == .duplex { s.duplexMarked.set(r) }
                        if route.mirroredDuringResync { s.mirroredDuringResync?.set(r) }
                    }
                }
                return (route, tickets)
            }
            for (e, ticket) in tickets { try commitIntent(e, ticket) }
            for e in route.members {
                try io { () throws(Errno) in try apply(images[e.index]) }
            }
            return route.members
        }
    }

    /// Waits until `ticket`'s bits of member `e` are durable, leading the commit if no one is:
    /// the changed pages are written under the state mutex, the fdatasync runs outside it.
    private func commitIntent(_ e: Enclosure, _ ticket: UInt64) throws(RDRError) {
        let commit = intentCommits[e.index]
        try commit.wait(for: ticket) { () throws(RDRError) -> UInt64 in
            let (metadata, covered) = try state.withLock { (s) throws(RDRError) -> (FileDescriptor, UInt64) in
                _ = try s.metadata[e.index].persist(&s.bitmaps[e.index], sync: false)
                return (s.metadata[e.index].fd, commit.lastTicket)
            }
            try io { () throws(Errno) in try metadata.dataSync() }
            return covered
        }
    }

    /// fdatasync of the given members' images: what FUA asks of one write. (Their write-intent
    /// bits were made durable before the data was written.) `punched`: fsync instead, since a
    /// punched hole changes the file's extent map (ext4 and XFS also commit that on fdatasync,
    /// but the engine does not rely on it; see the resync's checkpoint).
    func syncImages(_ members: [Enclosure], punched: Bool = false) throws(RDRError) {
        for e in members {
            try io { () throws(Errno) in
                if punched { try images[e.index].sync() } else { try images[e.index].dataSync() }
            }
        }
    }
}
