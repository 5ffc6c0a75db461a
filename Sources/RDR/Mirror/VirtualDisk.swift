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
    /// Which files the images are (found at open); every header this process writes records them.
    let identities: [MemberIdentity]
    public let imagePaths: [String]
    public let metadataPaths: [String]
    let ranges = RangeLock()
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
        /// Whether the images are the files the metadata recorded (until adopted or rebuilt).
        var identity: IdentityFinding
    }

    var sys: any SystemCalls { system.sys }

    init(system: RDRSystem, disk: Manifest.Disk, images: [FileDescriptor], identities: [MemberIdentity], imagePaths: [String],
         metadataPaths: [String], state: State, writable: Bool) {
        self.system = system
        name = disk.name
        role = disk.role
        size = disk.size
        regionSize = disk.regionSize
        regionCount = MetadataFile.regionCount(size: disk.size, regionSize: disk.regionSize)
        mirrorID = MirrorID.bytes(hex: disk.mirrorID) ?? []
        self.images = images
        self.identities = identities
        self.imagePaths = imagePaths
        self.metadataPaths = metadataPaths
        self.state = Mutex(state)
        self.writable = writable
    }

    deinit { for fd in images { fd.close() } }

    // MARK: Snapshot accessors

    public var record: MirrorRecord { state.withLock { $0.record } }

    /// Why the member images are not trusted (opened with `.report`), or nil.
    public var identityProblem: RDRError? {
        state.withLock { $0.identity }.error(disk: name, images: imagePaths)
    }

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

    // MARK: Record transitions

    /// Writes `record` (with `events` bumped) to both members, `first` first.
    func commit(_ record: inout MirrorRecord, in s: inout State, first: Enclosure) throws(RDRError) {
        record.events = s.record.events + 1
        for e in [first, first.other] {
            let header = MemberHeader(mirrorID: mirrorID, diskName: name, enclosure: e, size: size, regionSize: regionSize,
                                      record: record, image: identities[e.index])
            try io { () throws(Errno) in try s.metadata[e.index].writeHeader(header) }
        }
        s.record = record
    }

    func persist(_ e: Enclosure, in s: inout State) throws(RDRError) {
        let bitmap = s.bitmaps[e.index]
        try io { () throws(Errno) in _ = try s.metadata[e.index].persist(bitmap) }
    }

    static func newGeneration() -> UInt64 { UInt64.random(in: 1...UInt64.max) }

    /// Every change goes through here: refused on a read-only open and on images not trusted.
    func requireWritable() throws(RDRError) {
        guard writable else { throw RDRError(.invalidState, "disk '\(name)' was opened read-only") }
        if let problem = identityProblem { throw problem }
    }
}
