/// Writing a metadata file: bitmap pages and headers, each checked as its reader would check
/// it before a byte goes to disk.
extension MetadataFile {
    /// Writes the pages of `bitmap` that differ from the durable copy, each into its older slot,
    /// then (if `sync`) fdatasyncs once, and marks `bitmap` persisted. Only the pages its changes
    /// touched are compared, so the cost follows the changed bits, not the disk. Returns the
    /// number of pages written.
    @discardableResult
    func persist(_ bitmap: inout DirtyBitmap, sync: Bool = true) throws(RDRError) -> Int {
        try checkFits(bitmap)
        let changed = bitmap.touchedPages(of: pageCount).filter { bitmap.pageDiffers($0, from: durable) }
        guard !changed.isEmpty else {
            bitmap.markPersisted()
            return 0
        }
        let page = AlignedBuffer(count: MetadataLayout.slotSize)
        for p in changed {
            let seq = pageSequence[p] + 1
            try encodePage(p, seq: seq, from: bitmap, into: page.pointer)
            try io { () throws(Errno) in
                try fd.write(
                    from: page.pointer, count: MetadataLayout.slotSize,
                    at: MetadataLayout.pageOffset(page: p, slot: Int(seq % 2)))
            }
            pageSequence[p] = seq
        }
        if sync { try io { () throws(Errno) in try fd.dataSync() } }
        // Page by page, so the durable copy never shares storage with the caller's bitmap (the
        // caller's next change would otherwise copy the whole bitmap).
        for p in changed { durable.copyPage(p, from: bitmap) }
        bitmap.markPersisted()
        return changed.count
    }

    /// `persist` of a bitmap the caller keeps no note for (tests, one-off writes).
    @discardableResult
    func persist(_ bitmap: DirtyBitmap, sync: Bool = true) throws(RDRError) -> Int {
        var copy = bitmap
        return try persist(&copy, sync: sync)
    }

    /// Writes the header into slot `events % 2` and makes it durable. The header must be this
    /// file's (same disk, member and geometry) and exactly one event newer than the last one.
    func writeHeader(_ next: MemberHeader) throws(RDRError) {
        let current = header
        guard next.mirrorID == current.mirrorID, next.enclosure == current.enclosure,
            next.size == current.size, next.regionSize == current.regionSize
        else {
            throw RDRError.internalCheck("a header of another disk or member was about to replace \(fd.path)'s")
        }
        guard next.record.events == current.record.events &+ 1 else {
            throw RDRError.internalCheck(
                "the header of \(fd.path) would go from event \(current.record.events) to "
                    + "\(next.record.events), not one more")
        }
        let bytes = try next.encode()
        try io { () throws(Errno) in
            try fd.write(bytes, at: MetadataLayout.headerOffset(events: next.record.events))
            try fd.dataSync()
        }
        header = next
    }

    /// Every page at sequence 0 in slot 0 (slot 1 blank), for a new file.
    func encodeAllPages(_ bitmap: DirtyBitmap) throws(RDRError) -> AlignedBuffer {
        try checkFits(bitmap)
        let slot = MetadataLayout.slotSize
        let buffer = AlignedBuffer(count: 2 * pageCount * slot)
        buffer.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: buffer.count)
        for p in 0..<pageCount { try encodePage(p, seq: 0, from: bitmap, into: buffer.pointer + 2 * p * slot) }
        return buffer
    }

    /// The bitmap belongs to this file: as many regions, and no bit set past the last one
    /// (a reader masks those, so writing one would persist a bit that reads back clear).
    private func checkFits(_ bitmap: DirtyBitmap) throws(RDRError) {
        guard bitmap.regionCount == regionCount, bitmap.hasWordsForRegionCount else {
            throw RDRError.internalCheck(
                "a bitmap of \(bitmap.regionCount) regions was about to go to \(fd.path), which holds \(regionCount)")
        }
        guard bitmap.hasNoBitsPastRegionCount else {
            throw RDRError.internalCheck("a bitmap with bits past region \(regionCount) was about to go to \(fd.path)")
        }
    }

    /// Lays out page `p` of `bitmap` with sequence `seq`, then checks it as a reader would.
    private func encodePage(
        _ p: Int, seq: UInt64, from bitmap: DirtyBitmap,
        into base: UnsafeMutableRawPointer
    ) throws(RDRError) {
        typealias P = MetadataLayout.Page
        guard p >= 0, p < pageCount else {
            throw RDRError.internalCheck("page \(p) of \(fd.path), which has \(pageCount)")
        }
        base.initializeMemory(as: UInt8.self, repeating: 0, count: MetadataLayout.slotSize)
        base.storeBytes(of: P.magicValue.littleEndian, toByteOffset: P.magic, as: UInt32.self)
        base.storeBytes(of: UInt32(p).littleEndian, toByteOffset: P.index, as: UInt32.self)
        base.storeBytes(of: seq.littleEndian, toByteOffset: P.sequence, as: UInt64.self)
        base.storeBytes(of: mirrorTag.littleEndian, toByteOffset: P.mirrorTag, as: UInt64.self)
        let first = p * P.wordsPerPage
        for w in first..<min(first + P.wordsPerPage, bitmap.words.count) {
            base.storeBytes(of: bitmap.words[w].littleEndian, toByteOffset: P.words + (w - first) * 8, as: UInt64.self)
        }
        let raw = UnsafeRawBufferPointer(start: base, count: MetadataLayout.slotSize)
        base.storeBytes(of: MetadataLayout.pageChecksum(raw).littleEndian, toByteOffset: P.checksum, as: UInt32.self)
        guard Self.validPage(raw, index: p, tag: mirrorTag) == seq else {
            throw RDRError.internalCheck("bitmap page \(p) of \(fd.path) does not read back as written")
        }
    }
}
