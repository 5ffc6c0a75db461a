import Synchronization

/// One open virtual disk: two member images, their metadata, and the mirror record both members
/// share. This file is the index of everything a disk does; each operation lives beside it in
/// `VirtualDisk+<Operation>.swift`.
///
/// ## Operations (file, and the locks each takes, in the order taken)
///
/// - Open — `RDRSystem.disk(_:access:identity:)` (+Open): no lock while opening; a format 1
///   disk opened for writing records its images (`recordIdentities`): `ranges` whole disk →
///   `state`.
/// - Status — `record`, `dirtyBytes`, `bitmap(_:)`, `identityProblem`, `metadataWarnings`,
///   `geometry`, `wholeDisk` (+Status): `state`, for a snapshot.
/// - Read — `read(side:offset:length:)`, `readStream` (+Read): `state` (which member serves
///   the side), then the image read holds no lock: a read racing a write sees old or new bytes.
/// - Write — `write(side:_:)`, `write(side:offset:bytes:)`, `writeStream` (+Write), and for a
///   server `write(side:offset:from:count:durable:)` (+BufferIO, `durable` = FUA) and
///   `zero(side:offset:length:method:durable:)` (+Zeroing): all go through `mutate`
///   (+Mutation): `ranges` (the whole regions of every range at once) → `state` (bits set,
///   a ticket of the member's `WriteIntentCommit`) → `state` released; one writer at a time
///   leads the group commit (`state` again to write the changed pages, then the fdatasync with
///   no lock) while the others wait on the commit; then the data is written under `ranges`.
///   While resyncing, bits are persisted and synced under `state` (the checkpoint's way).
/// - Read into a buffer — `read(side:offset:into:count:)` (+BufferIO); maps for block status —
///   `allocationExtents`, `dirtyExtents` (+Extents); access — `checkAccess(side:)`,
///   `enclosure(of:)` (+Access): `state`, for a snapshot (the image read or seek holds no lock).
/// - Flush — `flush()` (+Flush): `ranges` whole disk → images synced → `state` (bits of
///   duplex writes cleared). `syncData()` (+BufferIO) syncs the images under no lock and
///   clears nothing: it does not stop writers.
/// - Split — `split(primary:)` (+Split): `ranges` whole disk → `state`.
/// - Merge — `merge()` (+Merge): `ranges` whole disk → `state`.
/// - Begin a resync — `beginResync(from:)` (+Resync): `ranges` whole disk → `state` (copy set
///   and direction made durable, nothing copied).
/// - Resync — `resync(from:options:extra:observer:)` (+Resync): begins as above; each worker
///   holds `ranges` over the extent it copies; checkpoints take `state` alone; the end
///   (`finishResync`) takes `ranges` whole disk → `state`.
/// - Planned extents — `plannedResyncExtents(from:maxIOSize:)` (+PlannedExtents): `state`, for
///   a snapshot of the bitmaps; nothing is copied or changed.
/// - Verify — `verify(workers:chunkSize:repairFrom:options:observer:)` (+Verify): `state` for a
///   snapshot of the bitmaps; each worker holds `ranges` over the chunk it reads; a repair is a
///   resync.
/// - Adopt — `adoptImages(workers:)` (+Adopt): `state` (the identity finding), a verify, then
///   `ranges` whole disk → `state` (the images' identities recorded).
///
/// `RDRSystem.prepareFullResync(disk:from:)` (Resync/FullResync.swift) rebuilds a disk's
/// metadata without opening the disk: it takes no disk lock, only the system lock its caller
/// holds.
///
/// ## Lock order
///
/// `ranges` before `state`, never the reverse: nothing that holds `state` waits for `ranges`.
/// A `WriteIntentCommit`'s lock is taken inside `state` and released before its leader takes
/// `state`, so it never waits for `state` while held.
/// `ranges` (`RangeLock`) is the byte-range lock: writers, resync workers and verify readers
/// hold the bytes they touch, transitions hold the whole disk so no write is in flight. `state`
/// (a `Mutex`) guards the record, the bitmaps and the metadata files together, so a bit never
/// changes without the metadata write that makes it durable; it is held across that write,
/// never across image I/O (write-intent's fdatasync runs outside it, see Write). Taking `ranges` for the whole disk waits for every
/// write, copy and compare in flight to finish.
public final class VirtualDisk: Sendable {
    public let system: RDRSystem
    public let name: String
    public let role: DiskRole
    /// Size, region size and the region ↔ byte arithmetic of this disk.
    public let geometry: RegionGeometry
    let mirrorID: [UInt8]
    let images: [FileDescriptor]
    /// Which files the images are (found at open); every header this process writes records them.
    let identities: [MemberIdentity]
    public let imagePaths: [String]
    public let metadataPaths: [String]
    let ranges = RangeLock()
    /// Client reads and writes as they start and finish: a resync slows down while it sees them.
    let foreground = ForegroundActivity()
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
        /// Whether the images are the files the metadata recorded (until adopted or rebuilt).
        var identity: IdentityFinding
    }

    public var size: Int64 { geometry.size }
    public var regionSize: Int64 { geometry.regionSize }
    public var regionCount: Int { geometry.regionCount }
    var sys: any SystemCalls { system.sys }

    init(
        system: RDRSystem, disk: Manifest.Disk, images: [FileDescriptor], identities: [MemberIdentity],
        imagePaths: [String], metadataPaths: [String], state: sending State, writable: Bool
    ) {
        self.system = system
        name = disk.name
        role = disk.role
        geometry = RegionGeometry(size: disk.size, regionSize: disk.regionSize)
        mirrorID = MirrorID.bytes(hex: disk.mirrorID) ?? []
        self.images = images
        self.identities = identities
        self.imagePaths = imagePaths
        self.metadataPaths = metadataPaths
        self.state = Mutex(state)
        self.writable = writable
    }

    deinit { for fd in images { fd.close() } }
}
