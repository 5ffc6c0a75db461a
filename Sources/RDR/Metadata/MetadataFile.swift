import Glibc

/// One member's metadata file.
///
/// Layout (all slots 4 KiB, little endian):
/// ```
/// [0, 4K)      header slot 0        header slots alternate by `events % 2`: the new copy is
/// [4K, 8K)     header slot 1        durable before the old one is overwritten (LMDB's two metas)
/// [8K + (2p+s)·4K)  bitmap page p, slot s   each page: magic, index, sequence, disk tag, CRC32C,
///                                           then 508 words = 32,512 region bits
/// ```
/// Every page is written (sequence 0, slot 0) when the file is created, so a page always has
/// at least one valid slot. A page with no valid slot is corruption, reported and never trusted.
/// A page with one valid slot and one damaged (non-blank, invalid) slot is either a torn write
/// (the damaged copy was the newest and its data was never written) or damage to a newer copy
/// whose bits are already relied on. The two cannot be told apart, so every region of such a
/// page is marked dirty: a resync then copies too much, never too little (`suspectPages`).
/// `@unchecked Sendable`: a `VirtualDisk` keeps it inside its state mutex, which serialises every use.
public final class MetadataFile: @unchecked Sendable {
    static let slot = 4096
    static let pageHeaderSize = 32
    static let wordsPerPage = (slot - pageHeaderSize) / 8  // 508
    static let regionsPerPage = wordsPerPage * 64  // 32,512
    static let pageMagic: UInt32 = 0x4252_4452  // "RDRB"
    static let bitmapOffset = Int64(2 * slot)

    let fd: FileDescriptor
    let regionCount: Int
    let pageCount: Int
    let mirrorTag: UInt64
    private var pageSequence: [UInt64]
    /// The bitmap as last made durable; persisting diffs against it.
    private(set) var durable: DirtyBitmap
    /// Pages found with one damaged slot at open; all their regions were marked dirty.
    private(set) var suspectPages: [Int] = []

    static func pageCount(regions: Int) -> Int { max(1, (regions + regionsPerPage - 1) / regionsPerPage) }
    static func fileLength(regions: Int) -> Int64 { bitmapOffset + Int64(2 * pageCount(regions: regions) * slot) }

    private init(fd: FileDescriptor, regionCount: Int, mirrorTag: UInt64, pageSequence: [UInt64], durable: DirtyBitmap) {
        self.fd = fd
        self.regionCount = regionCount
        self.pageCount = Self.pageCount(regions: regionCount)
        self.mirrorTag = mirrorTag
        self.pageSequence = pageSequence
        self.durable = durable
    }

    deinit { fd.close() }

    static func tag(of mirrorID: [UInt8]) -> UInt64 {
        mirrorID.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    /// Creates a metadata file with a header and an all-clean (or all-dirty) bitmap, durably.
    /// A failure after the file was opened removes it: a half-written file is never left.
    static func create(path: String, header: MemberHeader, allDirty: Bool, replace: Bool, sys: any SystemCalls) throws(Errno) -> MetadataFile {
        let regions = regionCount(size: header.size, regionSize: header.regionSize)
        let fd = try FileDescriptor.create(path, replace: replace, sys: sys)
        let file = MetadataFile(fd: fd, regionCount: regions, mirrorTag: tag(of: header.mirrorID),
                                pageSequence: [UInt64](repeating: 0, count: pageCount(regions: regions)),
                                durable: DirtyBitmap(regionCount: regions))
        do throws(Errno) {
            try fd.truncate(to: fileLength(regions: regions))
            var initial = DirtyBitmap(regionCount: regions)
            if allDirty { initial.setAll() }
            try file.writeAllPages(initial)
            try fd.write(header.encode(), at: Int64(Int(header.record.events % 2) * slot))
            try fd.sync()
            try Directory.sync(Directory.parent(of: path), sys: sys)
        } catch {
            _ = sys.unlink(path)
            throw error
        }
        return file
    }

    static func regionCount(size: Int64, regionSize: Int64) -> Int {
        Int((size + regionSize - 1) / regionSize)
    }

    enum LoadError: Error {
        case os(Errno)
        case header(slot0: MemberHeader.DecodeError, slot1: MemberHeader.DecodeError)
        case length(actual: Int64, expected: Int64)
        case page(Int)
    }

    /// Reads both header slots and returns the newest valid one.
    static func readHeader(_ fd: FileDescriptor) throws(LoadError) -> MemberHeader {
        let bytes: [UInt8]
        do { bytes = try fd.readBytes(count: 2 * slot, at: 0) } catch { throw .os(error) }
        return try parseHeader(bytes)
    }

    /// The newest valid header of the two slots at the start of `bytes`.
    static func parseHeader(_ bytes: [UInt8]) throws(LoadError) -> MemberHeader {
        guard bytes.count >= 2 * slot else { throw .length(actual: Int64(bytes.count), expected: Int64(2 * slot)) }
        var decoded: [MemberHeader] = []
        var errors: [MemberHeader.DecodeError] = []
        for s in 0..<2 {
            do { decoded.append(try MemberHeader.decode(Array(bytes[s * slot..<(s + 1) * slot]))) } catch { errors.append(error) }
        }
        guard let newest = decoded.max(by: { $0.record.events < $1.record.events }) else {
            throw .header(slot0: errors[0], slot1: errors[1])
        }
        return newest
    }

    /// Opens an existing metadata file and loads its newest header and bitmap.
    static func open(path: String, access: FileDescriptor.Access, sys: any SystemCalls) throws(LoadError) -> (MetadataFile, MemberHeader) {
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(path, access, sys: sys) } catch { throw .os(error) }
        return try load(fd)
    }

    /// Loads the newest header and the bitmap from an open metadata file; takes ownership of
    /// `fd` (closed on failure, kept by the returned file otherwise).
    static func load(_ fd: FileDescriptor) throws(LoadError) -> (MetadataFile, MemberHeader) {
        do {
            let header = try readHeader(fd)
            let regions = regionCount(size: header.size, regionSize: header.regionSize)
            let expected = fileLength(regions: regions)
            let actual: Int64
            do { actual = try fd.status().size } catch { throw LoadError.os(error) }
            guard actual == expected else { throw LoadError.length(actual: actual, expected: expected) }
            let (bitmap, sequence, suspect) = try readBitmap(fd, regions: regions, tag: tag(of: header.mirrorID))
            let file = MetadataFile(fd: fd, regionCount: regions, mirrorTag: tag(of: header.mirrorID), pageSequence: sequence, durable: bitmap)
            file.suspectPages = suspect
            return (file, header)
        } catch let e as LoadError {
            fd.close()
            throw e
        } catch {
            fd.close()
            throw .page(-1)
        }
    }

    private static func readBitmap(_ fd: FileDescriptor, regions: Int, tag: UInt64) throws(LoadError) -> (DirtyBitmap, [UInt64], [Int]) {
        let pages = pageCount(regions: regions)
        let total = 2 * pages * slot
        let buffer = AlignedBuffer(count: total)
        do { try fd.readFully(into: buffer.pointer, count: total, at: bitmapOffset) } catch { throw .os(error) }
        return try parseBitmap(UnsafeRawBufferPointer(start: buffer.pointer, count: total), regions: regions, tag: tag)
    }

    /// Decodes the bitmap pages (both slots each) from `pagesBytes`, which starts at page 0.
    static func parseBitmap(_ pagesBytes: UnsafeRawBufferPointer, regions: Int, tag: UInt64) throws(LoadError) -> (DirtyBitmap, [UInt64], [Int]) {
        let pages = pageCount(regions: regions)
        guard pagesBytes.count >= 2 * pages * slot, let start = pagesBytes.baseAddress else { throw .length(actual: Int64(pagesBytes.count), expected: Int64(2 * pages * slot)) }
        var words = [UInt64](repeating: 0, count: (regions + 63) / 64)
        var sequence = [UInt64](repeating: 0, count: pages)
        var suspect: [Int] = []
        for p in 0..<pages {
            var best: (seq: UInt64, slot: Int)?
            var damaged = false
            for s in 0..<2 {
                let base = start + (2 * p + s) * slot
                let raw = UnsafeRawBufferPointer(start: base, count: slot)
                guard let seq = validPage(raw, index: p, tag: tag) else {
                    if !raw.allSatisfy({ $0 == 0 }) { damaged = true }
                    continue
                }
                if best.map({ seq > $0.seq }) ?? true { best = (seq, s) }
            }
            guard let chosen = best else { throw .page(p) }
            // The damaged copy may hold a sequence above 2^63 after a flip; keep counting from the
            // valid one, which the next persist overwrites into the damaged slot.
            sequence[p] = chosen.seq
            let base = start + (2 * p + chosen.slot) * slot + pageHeaderSize
            let first = p * wordsPerPage
            let last = min(first + wordsPerPage, words.count)
            for w in first..<last {
                words[w] = damaged ? ~0 : UInt64(littleEndian: base.loadUnaligned(fromByteOffset: (w - first) * 8, as: UInt64.self))
            }
            if damaged { suspect.append(p) }
        }
        // Bits past the last region are never set by us; mask them so a flipped bit there cannot count.
        let tail = regions & 63
        if tail != 0, !words.isEmpty { words[words.count - 1] &= (1 << UInt64(tail)) - 1 }
        return (DirtyBitmap(regionCount: regions, words: words), sequence, suspect)
    }

    /// Decodes a whole metadata file held in memory, as `open` would (fuzzing and tests).
    /// Returns the header and the bitmap, or the reason it is refused.
    public static func decode(image bytes: [UInt8], maxRegions: Int = 1 << 24) -> Result<(MemberHeader, DirtyBitmap), Error> {
        do {
            let header = try parseHeader(bytes)
            let regions = regionCount(size: header.size, regionSize: header.regionSize)
            guard regions <= maxRegions else { return .failure(LoadError.length(actual: Int64(bytes.count), expected: -1)) }
            guard Int64(bytes.count) == fileLength(regions: regions) else {
                return .failure(LoadError.length(actual: Int64(bytes.count), expected: fileLength(regions: regions)))
            }
            let pages = AlignedBuffer(count: bytes.count - Int(bitmapOffset))
            bytes[Int(bitmapOffset)...].withUnsafeBytes { if let b = $0.baseAddress { pages.pointer.copyMemory(from: b, byteCount: $0.count) } }
            let parsed = try parseBitmap(UnsafeRawBufferPointer(start: pages.pointer, count: pages.count), regions: regions, tag: tag(of: header.mirrorID))
            return .success((header, parsed.0))
        } catch {
            return .failure(error)
        }
    }

    /// The page's sequence number when its magic, index, tag and checksum hold.
    private static func validPage(_ raw: UnsafeRawBufferPointer, index: Int, tag: UInt64) -> UInt64? {
        guard raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self) == pageMagic.littleEndian,
              UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) == UInt32(index),
              UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)) == tag else { return nil }
        let stored = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 28, as: UInt32.self))
        var crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<28]))
        crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[pageHeaderSize...]), seed: crc)
        guard crc == stored else { return nil }
        return UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    /// Writes the pages of `bitmap` that differ from the durable copy, each into its older slot,
    /// then (if `sync`) fdatasyncs once. Returns the number of pages written.
    @discardableResult
    func persist(_ bitmap: DirtyBitmap, sync: Bool = true) throws(Errno) -> Int {
        let changed = Set(bitmap.changedWords(comparedTo: durable).map { $0 / Self.wordsPerPage })
        guard !changed.isEmpty else { return 0 }
        let page = AlignedBuffer(count: Self.slot)
        for p in changed.sorted() {
            let seq = pageSequence[p] + 1
            encodePage(p, seq: seq, from: bitmap, into: page.pointer)
            try fd.write(from: page.pointer, count: Self.slot, at: Self.bitmapOffset + Int64((2 * p + Int(seq % 2)) * Self.slot))
            pageSequence[p] = seq
        }
        if sync { try fd.dataSync() }
        durable = bitmap
        return changed.count
    }

    /// Writes every page at sequence 0 into slot 0 (file creation), then syncs.
    private func writeAllPages(_ bitmap: DirtyBitmap) throws(Errno) {
        let buffer = AlignedBuffer(count: 2 * pageCount * Self.slot)
        memset(buffer.pointer, 0, buffer.count)
        for p in 0..<pageCount { encodePage(p, seq: 0, from: bitmap, into: buffer.pointer + 2 * p * Self.slot) }
        try fd.write(from: buffer.pointer, count: buffer.count, at: Self.bitmapOffset)
        durable = bitmap
    }

    private func encodePage(_ p: Int, seq: UInt64, from bitmap: DirtyBitmap, into base: UnsafeMutableRawPointer) {
        memset(base, 0, Self.slot)
        base.storeBytes(of: Self.pageMagic.littleEndian, toByteOffset: 0, as: UInt32.self)
        base.storeBytes(of: UInt32(p).littleEndian, toByteOffset: 4, as: UInt32.self)
        base.storeBytes(of: seq.littleEndian, toByteOffset: 8, as: UInt64.self)
        base.storeBytes(of: mirrorTag.littleEndian, toByteOffset: 16, as: UInt64.self)
        let first = p * Self.wordsPerPage
        let last = min(first + Self.wordsPerPage, bitmap.words.count)
        if first < last {
            for w in first..<last {
                base.storeBytes(of: bitmap.words[w].littleEndian, toByteOffset: Self.pageHeaderSize + (w - first) * 8, as: UInt64.self)
            }
        }
        let raw = UnsafeRawBufferPointer(start: base, count: Self.slot)
        var crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<28]))
        crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[Self.pageHeaderSize...]), seed: crc)
        base.storeBytes(of: crc.littleEndian, toByteOffset: 28, as: UInt32.self)
    }

    /// Writes the header into slot `events % 2` and makes it durable.
    func writeHeader(_ header: MemberHeader) throws(Errno) {
        try fd.write(header.encode(), at: Int64(Int(header.record.events % 2) * Self.slot))
        try fd.dataSync()
    }
}
