/// The helpers every change goes through: the record written to both members, a bitmap made
/// durable, the writability check and new generations. Each runs with `state` held (the
/// caller's `inout State`).
extension VirtualDisk {
    /// Writes `record` (with `events` bumped by one) to both members, `first` first; a crash in
    /// between leaves one member one event behind, which the next open rolls forward.
    func writeRecord(_ record: inout MirrorRecord, in s: inout State, first: Enclosure) throws(RDRError) {
        record.events = s.record.events + 1
        for e in [first, first.other] {
            let header = MemberHeader(
                mirrorID: mirrorID, diskName: name, enclosure: e, size: size,
                regionSize: regionSize, record: record, image: identities[e.index])
            try s.metadata[e.index].writeHeader(header)
        }
        s.record = record
    }

    /// Makes member `e`'s bitmap durable (the pages that changed, then one fdatasync).
    func persist(_ e: Enclosure, in s: inout State) throws(RDRError) {
        try s.metadata[e.index].persist(&s.bitmaps[e.index])
    }

    func newGeneration() -> UInt64 { sys.random.generation() }

    /// Every change goes through here: refused on a read-only open and on images not trusted.
    func requireWritable() throws(RDRError) {
        guard writable else { throw RDRError(.invalidState, "disk '\(name)' was opened read-only") }
        if let problem = identityProblem { throw problem }
    }
}
