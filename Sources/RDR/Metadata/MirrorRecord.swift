/// The mirror-level state that both members' headers carry. It changes only through
/// `VirtualDisk` transitions, each of which bumps `events` and writes it to both members in
/// turn; the member whose copy is one event behind is rolled forward on the next open (md's
/// `events` rule). A member further behind is stale and never trusted for a bitmap resync.
public struct MirrorRecord: Sendable, Equatable {
    public var events: UInt64
    public var mode: MirrorMode
    /// The enclosure that is (or becomes at split) the Production Side.
    public var primary: Enclosure
    /// Generation both members shared when they were last identical (DRBD's bitmap UUID).
    public var baseGeneration: UInt64
    /// Each member's current generation, indexed by `Enclosure.index`. Equal to the base in duplex.
    public var generations: [UInt64]
    /// While resyncing: the member being copied from.
    public var resyncSource: Enclosure?
    /// While resyncing: bytes the resync planned when it started (fixed for progress).
    public var planBytes: UInt64
    /// While resyncing: when the resync started, milliseconds since 1970.
    public var resyncStartedMillis: UInt64
    /// The mode the disk was in when its resync started (split, merged or duplex).
    public var modeBeforeResync: MirrorMode?

    public static func fresh(generation: UInt64, primary: Enclosure) -> MirrorRecord {
        MirrorRecord(events: 1, mode: .duplex, primary: primary, baseGeneration: generation,
                     generations: [generation, generation], resyncSource: nil, planBytes: 0,
                     resyncStartedMillis: 0, modeBeforeResync: nil)
    }

    public var resyncTarget: Enclosure? { resyncSource?.other }
}

/// Everything one member's metadata header says: the disk identity it belongs to, which
/// member it is, its copy of the mirror record and which file its image is.
///
/// Format 2 added the image's identity (after the resync start time). Format 1 headers are
/// still read, with no identity; the first command that opens such a disk for writing records
/// the images it finds and rewrites both headers as format 2.
public struct MemberHeader: Sendable, Equatable {
    public static let magic: [UInt8] = Array("RDRMETA1".utf8)
    public static let formatVersion: UInt32 = 2
    static let supportedVersions: ClosedRange<UInt32> = 1...2
    public static let slotSize = 4096
    static let checksumOffset = slotSize - 4
    public static let maxNameLength = 255

    public var mirrorID: [UInt8]  // 16 bytes
    public var diskName: String
    public var enclosure: Enclosure
    public var size: Int64
    public var regionSize: Int64
    public var record: MirrorRecord
    /// The member image's identity when it was created or last adopted; nil in format 1.
    public var image: MemberIdentity? = nil

    public enum DecodeError: Error, Sendable, Equatable {
        case blank, badMagic, badChecksum, unsupportedVersion(UInt32), badField(String)
    }

    public func encode(version: UInt32 = MemberHeader.formatVersion) -> [UInt8] {
        var w = ByteWriter(size: Self.slotSize)
        w.put(bytes: Self.magic)
        w.put(version)
        w.put(UInt32(0))  // reserved
        w.put(record.events)
        w.put(bytes: mirrorID)
        w.put(enclosure.rawValue)
        w.put(record.mode.rawValue)
        w.put(record.primary.rawValue)
        w.put(record.resyncSource?.rawValue ?? 0)
        w.put(record.modeBeforeResync?.rawValue ?? 0)
        w.put(UInt8(0)); w.put(UInt8(0)); w.put(UInt8(0))
        w.put(UInt64(size))
        w.put(UInt64(regionSize))
        w.put(record.baseGeneration)
        w.put(record.generations[0])
        w.put(record.generations[1])
        w.put(record.planBytes)
        w.put(record.resyncStartedMillis)
        if version >= 2 {
            w.put(image?.inode ?? 0)
            w.put(image?.birthNanos ?? 0)
        }
        let name = Array(diskName.utf8.prefix(Self.maxNameLength))
        w.put(UInt16(name.count))
        w.put(bytes: name)
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<Self.checksumOffset])) }
        w.put(at: Self.checksumOffset, crc)
        let bytes = w.bytes
        return bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> MemberHeader {
        guard bytes.count == slotSize else { throw .badField("slot length \(bytes.count)") }
        if bytes.isAllZero { throw .blank }
        guard Array(bytes[0..<8]) == magic else { throw .badMagic }
        let stored = bytes.le32(at: checksumOffset)
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<checksumOffset])) }
        guard stored == crc else { throw .badChecksum }
        do {
            var r = ByteReader(bytes, at: 8)
            let version = try r.get(UInt32.self)
            guard supportedVersions.contains(version) else { throw DecodeError.unsupportedVersion(version) }
            _ = try r.get(UInt32.self)
            let events = try r.get(UInt64.self)
            let id = try r.get(count: 16)
            guard let enclosure = Enclosure(rawValue: try r.get(UInt8.self)) else { throw DecodeError.badField("enclosure") }
            guard let mode = MirrorMode(rawValue: try r.get(UInt8.self)) else { throw DecodeError.badField("mode") }
            guard let primary = Enclosure(rawValue: try r.get(UInt8.self)) else { throw DecodeError.badField("primary") }
            let sourceRaw = try r.get(UInt8.self)
            let source = Enclosure(rawValue: sourceRaw)
            guard sourceRaw == 0 || source != nil else { throw DecodeError.badField("resync source") }
            let beforeRaw = try r.get(UInt8.self)
            let before = MirrorMode(rawValue: beforeRaw)
            guard beforeRaw == 0 || before != nil else { throw DecodeError.badField("mode before resync") }
            _ = try r.get(count: 3)
            let size = try r.get(UInt64.self)
            let regionSize = try r.get(UInt64.self)
            let base = try r.get(UInt64.self)
            let g0 = try r.get(UInt64.self)
            let g1 = try r.get(UInt64.self)
            let plan = try r.get(UInt64.self)
            let started = try r.get(UInt64.self)
            var image: MemberIdentity?
            if version >= 2 {
                let inode = try r.get(UInt64.self), birth = try r.get(UInt64.self)
                if inode != 0 { image = MemberIdentity(inode: inode, birthNanos: birth) }
            }
            let nameLength = Int(try r.get(UInt16.self))
            guard nameLength <= maxNameLength else { throw DecodeError.badField("name length") }
            let nameBytes = try r.get(count: nameLength)
            guard let name = String(validating: nameBytes, as: UTF8.self) else { throw DecodeError.badField("name") }
            guard size > 0, size <= UInt64(Int64.max), regionSize > 0, regionSize <= UInt64(Int64.max) else { throw DecodeError.badField("size") }
            guard (mode == .resyncing) == (source != nil) else { throw DecodeError.badField("resync source for mode \(mode)") }
            let record = MirrorRecord(events: events, mode: mode, primary: primary, baseGeneration: base,
                                      generations: [g0, g1], resyncSource: source, planBytes: plan,
                                      resyncStartedMillis: started, modeBeforeResync: before)
            return MemberHeader(mirrorID: id, diskName: name, enclosure: enclosure, size: Int64(size),
                                regionSize: Int64(regionSize), record: record, image: image)
        } catch let e as DecodeError {
            throw e
        } catch {
            throw .badField("truncated")
        }
    }
}
