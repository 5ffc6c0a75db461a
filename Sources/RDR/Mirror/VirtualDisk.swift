import Foundation
import Synchronization

/// One open virtual disk: its two member images, their metadata, and the mirror record both
/// members share. Thread-safe: writers, resync workers and transitions coordinate through the
/// byte-range lock (`ranges`) and the state mutex, which guards the record and the bitmaps
/// together so a bit can never change without the metadata write that makes it durable.
public final class VirtualDisk: Sendable {
    public let system: RDRSystem
    public let name: String
    public let role: DiskRole
    public let size: Int64
    public let regionSize: Int64
    public let regionCount: Int
    let mirrorID: [UInt8]
    let images: [FileDescriptor]
    public let imagePaths: [String]
    public let metadataPaths: [String]
    let ranges = RangeLock()
    /// Write-intent group commit, per member (see `mutate`).
    let intentCommits = [WriteIntentCommit(), WriteIntentCommit()]
    let state: Mutex<State>
    let writable: Bool

    struct State {
        var record: MirrorRecord
        var bitmaps: [DirtyBitmap]
        var metadata: [MetadataFile]
        /// Duplex regions this process marked before writing both members; `flush` clears them.
        var duplexMarked: DirtyBitmap
        /// Duplex regions that were already marked when the disk was opened: interrupted writes.
        var interruptedAtOpen: DirtyBitmap
        /// While a resync runs in this process: regions written to both members meanwhile.
        var mirroredDuringResync: DirtyBitmap?
    }

    var sys: any SystemCalls { system.sys }

    private init(system: RDRSystem, disk: Manifest.Disk, images: [FileDescriptor], imagePaths: [String],
                 metadataPaths: [String], state: State, writable: Bool) {
        self.system = system
        name = disk.name
        role = disk.role
        size = disk.size
        regionSize = disk.regionSize
        regionCount = MetadataFile.regionCount(size: disk.size, regionSize: disk.regionSize)
        mirrorID = MirrorID.bytes(hex: disk.mirrorID) ?? []
        self.images = images
        self.imagePaths = imagePaths
        self.metadataPaths = metadataPaths
        self.state = Mutex(state)
        self.writable = writable
    }

    deinit { for fd in images { fd.close() } }

    // MARK: Snapshot accessors

    public var record: MirrorRecord { state.withLock { $0.record } }

    /// Bitmap pages found with a damaged slot at open (all their regions are treated as dirty).
    public var metadataWarnings: [String] {
        state.withLock { s in
            s.metadata.enumerated().compactMap { i, m in
                m.suspectPages.isEmpty ? nil : "member \(Enclosure(index: i)?.description ?? "?") metadata has \(m.suspectPages.count) bitmap page(s) with a damaged copy (torn write or corruption); their regions are resynced in full"
            }
        }
    }

    /// Bytes marked dirty on each member (indexed by `Enclosure.index`).
    public var dirtyBytes: [Int64] { state.withLock { s in s.bitmaps.map { bytes(of: $0) } } }

    public func bitmap(_ e: Enclosure) -> DirtyBitmap { state.withLock { $0.bitmaps[e.index] } }

    func bytes(of bitmap: DirtyBitmap) -> Int64 {
        var total = Int64(bitmap.count) * regionSize
        if bitmap.regionCount > 0, bitmap.isSet(bitmap.regionCount - 1) {
            total -= Int64(bitmap.regionCount) * regionSize - size  // the last region may be partial
        }
        return total
    }

    func byteRange(regions: Range<Int>) -> Range<Int64> {
        Int64(regions.lowerBound) * regionSize..<min(Int64(regions.upperBound) * regionSize, size)
    }

    public var wholeDisk: Range<Int64> { 0..<size }

    // MARK: Opening

    static func advice(_ disk: String, rebuildFrom good: Enclosure) -> String {
        "to rebuild it from member \(good) run 'rdr disk resync \(disk) --from \(good) --full'"
    }

    static func open(system: RDRSystem, disk: Manifest.Disk, access: FileDescriptor.Access) throws(RDRError) -> VirtualDisk {
        let sys = system.sys
        var images: [FileDescriptor] = []
        var imagePaths: [String] = []
        var metadataPaths: [String] = []
        var metadata: [MetadataFile] = []
        var headers: [MemberHeader] = []
        let cleanup = { for fd in images { fd.close() } }
        for e in Enclosure.allCases {
            guard let m = disk.member(e) else { cleanup(); throw RDRError(.corrupt, "manifest names no member \(e) for disk '\(disk.name)'") }
            let imagePath = system.file(m.image)
            let metaPath = system.file(m.metadata)
            imagePaths.append(imagePath)
            metadataPaths.append(metaPath)
            let image: FileDescriptor
            do { image = try FileDescriptor.open(imagePath, access, sys: sys) } catch {
                cleanup()
                if error.code == ENOENT {
                    throw RDRError(.corrupt, "member image \(imagePath) of disk '\(disk.name)' (enclosure \(e)) is missing; restore it, or \(advice(disk.name, rebuildFrom: e.other)) (it recreates the image)")
                }
                throw RDRError.io(error)
            }
            images.append(image)
            let actual = (try? image.status().size) ?? -1
            guard actual == disk.size else {
                cleanup()
                throw RDRError(.corrupt, "member image \(imagePath) of disk '\(disk.name)' is \(actual) bytes, expected \(disk.size); restore the right image, or \(advice(disk.name, rebuildFrom: e.other))")
            }
            do {
                let (file, header) = try MetadataFile.open(path: metaPath, access: access, sys: sys)
                try check(header, disk: disk, enclosure: e, path: metaPath)
                metadata.append(file)
                headers.append(header)
            } catch let error as RDRError {
                cleanup()
                throw error
            } catch let error as MetadataFile.LoadError {
                cleanup()
                throw describe(error, disk: disk.name, enclosure: e, path: metaPath)
            } catch {
                cleanup()
                throw RDRError(.corrupt, "metadata \(metaPath): \(error)")
            }
        }
        let record = try reconcile(headers, disk: disk.name, metadata: metadata, writable: access == .readWrite, cleanup: cleanup)
        let bitmaps = metadata.map(\.durable)
        var interrupted = DirtyBitmap(regionCount: bitmaps[0].regionCount)
        if record.mode == .duplex {
            interrupted.formUnion(bitmaps[0])
            interrupted.formUnion(bitmaps[1])
        }
        let state = State(record: record, bitmaps: bitmaps, metadata: metadata,
                          duplexMarked: DirtyBitmap(regionCount: bitmaps[0].regionCount),
                          interruptedAtOpen: interrupted, mirroredDuringResync: nil)
        return VirtualDisk(system: system, disk: disk, images: images, imagePaths: imagePaths,
                           metadataPaths: metadataPaths, state: state, writable: access == .readWrite)
    }

    private static func check(_ h: MemberHeader, disk: Manifest.Disk, enclosure e: Enclosure, path: String) throws(RDRError) {
        let fix = advice(disk.name, rebuildFrom: e.other)
        guard MirrorID.hex(h.mirrorID) == disk.mirrorID else {
            throw RDRError(.corrupt, "metadata \(path) belongs to another disk ('\(h.diskName)', mirror \(MirrorID.hex(h.mirrorID).prefix(8))…), not to '\(disk.name)'; put the right file back, or \(fix)")
        }
        guard h.enclosure == e else {
            throw RDRError(.corrupt, "metadata \(path) is member \(h.enclosure)'s, but the manifest uses it for member \(e) of '\(disk.name)'; swap the files back, or \(fix)")
        }
        guard h.size == disk.size, h.regionSize == disk.regionSize else {
            throw RDRError(.corrupt, "metadata \(path) describes \(h.size) bytes in \(h.regionSize)-byte regions, the manifest \(disk.size) in \(disk.regionSize); \(fix)")
        }
    }

    private static func describe(_ error: MetadataFile.LoadError, disk: String, enclosure e: Enclosure, path: String) -> RDRError {
        let fix = advice(disk, rebuildFrom: e.other)
        switch error {
        case .os(let errno) where errno.code == ENOENT:
            return RDRError(.corrupt, "metadata \(path) of disk '\(disk)' member \(e) is missing; \(fix)")
        case .os(let errno):
            return RDRError.io(errno)
        case .header(let a, let b):
            let what = (a == .blank && b == .blank) ? "has no header" : (a == .badChecksum || b == .badChecksum) ? "has a bad checksum in both header slots" : "has no valid header (\(a), \(b))"
            return RDRError(.corrupt, "metadata \(path) of disk '\(disk)' member \(e) \(what) and is not trusted; \(fix)")
        case .length(let actual, let expected):
            return RDRError(.corrupt, "metadata \(path) of disk '\(disk)' member \(e) is \(actual) bytes, expected \(expected) (truncated?); \(fix)")
        case .page(let p):
            return RDRError(.corrupt, "metadata \(path) of disk '\(disk)' member \(e) has a corrupt bitmap page \(p) (bad checksum in both slots); \(fix)")
        }
    }

    /// Decides the mirror record from both members' copies. Equal: fine. One event apart: the
    /// newer copy is the intent of an interrupted transition; roll the other forward. Anything
    /// else: the members' histories do not meet, and a bitmap resync would be a guess.
    private static func reconcile(_ headers: [MemberHeader], disk: String, metadata: [MetadataFile], writable: Bool, cleanup: () -> Void) throws(RDRError) -> MirrorRecord {
        let a = headers[0].record, b = headers[1].record
        if a == b { return a }
        let (newer, lagging) = a.events >= b.events ? (0, 1) : (1, 0)
        let n = headers[newer].record, l = headers[lagging].record
        let ne = Enclosure(index: newer) ?? .ten, le = Enclosure(index: lagging) ?? .eleven
        guard n.events == l.events + 1 else {
            cleanup()
            let why = n.events == l.events ? "disagree at the same event count \(n.events)" : "are \(n.events - l.events) events apart (member \(le) is stale)"
            throw RDRError(.corrupt, "members of disk '\(disk)' \(why); refusing a bitmap resync. Pick the member to keep and run 'rdr disk resync \(disk) --from \(ne) --full' (or --from \(le))")
        }
        if writable {
            var header = headers[lagging]
            header.record = n
            do { try metadata[lagging].writeHeader(header) } catch {
                cleanup()
                throw RDRError.io(error)
            }
        }
        return n
    }

    // MARK: Record transitions

    /// Writes `record` (with `events` bumped) to both members, `first` first.
    func commit(_ record: inout MirrorRecord, in s: inout State, first: Enclosure) throws(RDRError) {
        record.events = s.record.events + 1
        for e in [first, first.other] {
            let header = MemberHeader(mirrorID: mirrorID, diskName: name, enclosure: e, size: size, regionSize: regionSize, record: record)
            try io { () throws(Errno) in try s.metadata[e.index].writeHeader(header) }
        }
        s.record = record
    }

    func persist(_ e: Enclosure, in s: inout State) throws(RDRError) {
        let bitmap = s.bitmaps[e.index]
        try io { () throws(Errno) in _ = try s.metadata[e.index].persist(bitmap) }
    }

    static func newGeneration() -> UInt64 { UInt64.random(in: 1...UInt64.max) }

    func requireWritable() throws(RDRError) {
        guard writable else { throw RDRError(.invalidState, "disk '\(name)' was opened read-only") }
    }
}
