import Glibc

/// One member's metadata file: two header slots and the bitmap pages (`MetadataLayout` has
/// the byte layout).
///
/// Every page is written (sequence 0, slot 0) when the file is created, so a page always has
/// at least one valid slot. A page with no valid slot is corruption, reported and never trusted.
/// A page with one valid slot and one damaged (non-blank, invalid) slot is either a torn write
/// (the damaged copy was the newest and its data was never written) or damage to a newer copy
/// whose bits are already relied on. The two cannot be told apart, so every region of such a
/// page is marked dirty: a resync then copies too much, never too little (`suspectPages`).
///
/// Paired checks, before every write what the reader checks after every read: a header is
/// encoded only if it decodes back to itself (`MemberHeader.encode`), belongs to this file's
/// disk and member, and carries exactly one event more than the header before it; a page is
/// written only if `validPage` accepts it and no bit past `regionCount` is set. A failed check
/// throws `RDRError.internalCheck` before a byte is written.
///
/// `@unchecked Sendable`: a `VirtualDisk` keeps it inside its state mutex, which serialises
/// every use after open (`open` hands it over while still the only owner).
public final class MetadataFile: @unchecked Sendable {
    let fd: FileDescriptor
    let regionCount: Int
    let pageCount: Int
    let mirrorTag: UInt64
    // Changed only by this file and MetadataFile+Writing.swift, as pages and headers are written.
    /// Each page's newest sequence (the next write goes to slot `(sequence + 1) % 2`).
    var pageSequence: [UInt64]
    /// The bitmap as last made durable; persisting diffs against it.
    var durable: DirtyBitmap
    /// The newest header read or written: the next one must be its successor.
    var header: MemberHeader
    /// Pages found with one damaged slot at open; all their regions were marked dirty.
    private(set) var suspectPages: [Int] = []

    private init(fd: FileDescriptor, header: MemberHeader, pageSequence: [UInt64], durable: DirtyBitmap) {
        self.fd = fd
        self.header = header
        regionCount = RegionGeometry(size: header.size, regionSize: header.regionSize).regionCount
        pageCount = MetadataLayout.pageCount(regions: regionCount)
        mirrorTag = MetadataLayout.tag(of: header.mirrorID)
        self.pageSequence = pageSequence
        self.durable = durable
    }

    deinit { fd.close() }

    /// Creates a metadata file with a header and an all-clean (or all-dirty) bitmap, durably.
    /// A failure after the file was opened removes it: a half-written file is never left.
    static func create(
        path: String, header: MemberHeader, allDirty: Bool, replace: Bool,
        sys: any SystemCalls
    ) throws(RDRError) -> MetadataFile {
        let encoded = try header.encode()
        let regions = RegionGeometry(size: header.size, regionSize: header.regionSize).regionCount
        let fd = try io { () throws(Errno) in try FileDescriptor.create(path, replace: replace, sys: sys) }
        let sequences = [UInt64](repeating: 0, count: MetadataLayout.pageCount(regions: regions))
        let file = MetadataFile(
            fd: fd, header: header, pageSequence: sequences,
            durable: DirtyBitmap(regionCount: regions))
        do throws(RDRError) {
            var initial = DirtyBitmap(regionCount: regions)
            if allDirty { initial.setAll() }
            let pages = try file.encodeAllPages(initial)
            try io { () throws(Errno) in
                try fd.truncate(to: MetadataLayout.fileLength(regions: regions))
                try fd.write(from: pages.pointer, count: pages.count, at: MetadataLayout.bitmapOffset)
                try fd.write(encoded, at: MetadataLayout.headerOffset(events: header.record.events))
                try fd.sync()
                try Directory.sync(PathName.parent(of: path), sys: sys)
            }
            initial.markPersisted()
            file.durable = initial
        } catch {
            _ = sys.unlink(path)
            throw error
        }
        return file
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
        do { bytes = try fd.readBytes(count: 2 * MetadataLayout.slotSize, at: 0) } catch { throw .os(error) }
        return try parseHeader(bytes)
    }

    /// The newest valid header of the two slots at the start of `bytes`.
    static func parseHeader(_ bytes: [UInt8]) throws(LoadError) -> MemberHeader {
        let slot = MetadataLayout.slotSize
        guard bytes.count >= 2 * slot else { throw .length(actual: Int64(bytes.count), expected: Int64(2 * slot)) }
        var decoded: [MemberHeader] = []
        var errors: [MemberHeader.DecodeError] = []
        for s in 0..<2 {
            do { decoded.append(try MemberHeader.decode(Array(bytes[s * slot..<(s + 1) * slot]))) } catch {
                errors.append(error)
            }
        }
        guard let newest = decoded.max(by: { $0.record.events < $1.record.events }) else {
            throw .header(slot0: errors[0], slot1: errors[1])
        }
        return newest
    }

    /// Opens an existing metadata file and loads its newest header and bitmap.
    static func open(path: String, access: FileDescriptor.Access, sys: any SystemCalls) throws(LoadError) -> (
        MetadataFile, MemberHeader
    ) {
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(path, access, sys: sys) } catch { throw .os(error) }
        return try load(fd)
    }

    /// Loads the newest header and the bitmap from an open metadata file; takes ownership of
    /// `fd` (closed on failure, kept by the returned file otherwise).
    static func load(_ fd: FileDescriptor) throws(LoadError) -> (MetadataFile, MemberHeader) {
        do throws(LoadError) {
            let header = try readHeader(fd)
            let regions = RegionGeometry(size: header.size, regionSize: header.regionSize).regionCount
            let expected = MetadataLayout.fileLength(regions: regions)
            let actual: Int64
            do { actual = try fd.status().size } catch { throw LoadError.os(error) }
            guard actual == expected else { throw LoadError.length(actual: actual, expected: expected) }
            let pages = try readPages(fd, regions: regions)
            let parsed = try parseBitmap(pages.bytes, regions: regions, tag: MetadataLayout.tag(of: header.mirrorID))
            let file = MetadataFile(fd: fd, header: header, pageSequence: parsed.sequence, durable: parsed.bitmap)
            file.suspectPages = parsed.suspect
            return (file, header)
        } catch {
            fd.close()
            throw error
        }
    }

    private static func readPages(
        _ fd: FileDescriptor, regions: Int
    ) throws(LoadError) -> (buffer: AlignedBuffer, bytes: UnsafeRawBufferPointer) {
        let total = 2 * MetadataLayout.pageCount(regions: regions) * MetadataLayout.slotSize
        let buffer = AlignedBuffer(count: total)
        do { try fd.readFully(into: buffer.pointer, count: total, at: MetadataLayout.bitmapOffset) } catch {
            throw .os(error)
        }
        return (buffer, UnsafeRawBufferPointer(start: buffer.pointer, count: total))
    }

    /// What the bitmap pages say: the bitmap, each page's sequence, and the suspect pages.
    struct ParsedBitmap {
        var bitmap: DirtyBitmap
        var sequence: [UInt64]
        var suspect: [Int]
    }

    /// Decodes the bitmap pages (both slots each) from `pagesBytes`, which starts at page 0.
    static func parseBitmap(
        _ pagesBytes: UnsafeRawBufferPointer, regions: Int,
        tag: UInt64
    ) throws(LoadError) -> ParsedBitmap {
        let slot = MetadataLayout.slotSize
        let pages = MetadataLayout.pageCount(regions: regions)
        guard pagesBytes.count >= 2 * pages * slot, let start = pagesBytes.baseAddress else {
            throw .length(actual: Int64(pagesBytes.count), expected: Int64(2 * pages * slot))
        }
        var words = [UInt64](repeating: 0, count: (regions + 63) / 64)
        var result = ParsedBitmap(
            bitmap: DirtyBitmap(regionCount: regions),
            sequence: [UInt64](repeating: 0, count: pages), suspect: [])
        for p in 0..<pages {
            var best: (seq: UInt64, slot: Int)?
            var damaged = false
            for s in 0..<2 {
                let raw = UnsafeRawBufferPointer(start: start + (2 * p + s) * slot, count: slot)
                guard let seq = validPage(raw, index: p, tag: tag) else {
                    if !isBlank(raw) { damaged = true }
                    continue
                }
                if best.map({ seq > $0.seq }) ?? true { best = (seq, s) }
            }
            guard let chosen = best else { throw .page(p) }
            // The damaged copy may hold a sequence above 2^63 after a flip; keep counting from the
            // valid one, which the next persist overwrites into the damaged slot.
            result.sequence[p] = chosen.seq
            let base = start + (2 * p + chosen.slot) * slot + MetadataLayout.Page.words
            let first = p * MetadataLayout.Page.wordsPerPage
            for w in first..<min(first + MetadataLayout.Page.wordsPerPage, words.count) {
                words[w] =
                    damaged
                    ? ~0 : UInt64(littleEndian: base.loadUnaligned(fromByteOffset: (w - first) * 8, as: UInt64.self))
            }
            if damaged { result.suspect.append(p) }
        }
        // Bits past the last region are never written (`persist` refuses them); mask them so a
        // flipped bit there cannot count.
        result.bitmap = DirtyBitmap(regionCount: regions, words: words).maskedToRegionCount()
        result.bitmap.markPersisted()
        return result
    }

    /// Decodes a whole metadata file held in memory, as `open` would (fuzzing and tests).
    /// Returns the header and the bitmap, or the reason it is refused.
    public static func decode(image bytes: [UInt8], maxRegions: Int = 1 << 24) -> Result<
        (MemberHeader, DirtyBitmap), Error
    > {
        do {
            let header = try parseHeader(bytes)
            let regions = RegionGeometry(size: header.size, regionSize: header.regionSize).regionCount
            guard regions <= maxRegions else {
                return .failure(LoadError.length(actual: Int64(bytes.count), expected: -1))
            }
            let expected = MetadataLayout.fileLength(regions: regions)
            guard Int64(bytes.count) == expected else {
                return .failure(LoadError.length(actual: Int64(bytes.count), expected: expected))
            }
            let offset = Int(MetadataLayout.bitmapOffset)
            let pages = AlignedBuffer(count: bytes.count - offset)
            bytes[offset...].withUnsafeBytes { raw in
                if let b = raw.baseAddress { pages.pointer.copyMemory(from: b, byteCount: raw.count) }
            }
            let parsed = try parseBitmap(
                UnsafeRawBufferPointer(start: pages.pointer, count: pages.count),
                regions: regions, tag: MetadataLayout.tag(of: header.mirrorID))
            return .success((header, parsed.bitmap))
        } catch {
            return .failure(error)
        }
    }

    /// The page's sequence number when its magic, index, tag and checksum hold.
    /// A slot never written (all zeros): word by word, as every page's second slot of a new
    /// file is one of these and a 1 TiB disk has a thousand pages.
    static func isBlank(_ raw: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i + 8 <= raw.count {
            if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return false }
            i += 8
        }
        return raw[i...].allSatisfy { $0 == 0 }
    }

    static func validPage(_ raw: UnsafeRawBufferPointer, index: Int, tag: UInt64) -> UInt64? {
        typealias P = MetadataLayout.Page
        func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        guard raw.count == MetadataLayout.slotSize, u32(P.magic) == P.magicValue,
            u32(P.index) == UInt32(truncatingIfNeeded: index), u64(P.mirrorTag) == tag,
            u32(P.checksum) == MetadataLayout.pageChecksum(raw)
        else { return nil }
        return u64(P.sequence)
    }
}
