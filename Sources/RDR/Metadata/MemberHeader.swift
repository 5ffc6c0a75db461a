/// Everything one member's metadata header says: the disk identity it belongs to, which
/// member it is, its copy of the mirror record and which file its image is. The byte layout is
/// `MetadataLayout.Header`.
///
/// Format 2 added the image's identity (after the resync start time). Format 1 headers are
/// still read, with no identity; the first command that opens such a disk for writing records
/// the images it finds and rewrites both headers as format 2.
///
/// Paired checks: `problem()` is what `decode` refuses after reading, and `encode` refuses
/// the same before writing; `encode` then decodes its own bytes and compares, so rdr never
/// writes a header it would not read back as written.
public struct MemberHeader: Sendable, Equatable {
    public static let magic: [UInt8] = Array("RDRMETA1".utf8)
    public static let formatVersion: UInt32 = 2
    static let supportedVersions: ClosedRange<UInt32> = 1...2
    public static let maxNameLength = MetadataLayout.Header.maxNameLength

    public var mirrorID: [UInt8]  // 16 bytes
    public var diskName: String
    public var enclosure: Enclosure
    public var size: Int64
    public var regionSize: Int64
    public var record: MirrorRecord
    /// The member image's identity when it was created or last adopted; nil in format 1.
    public var image: MemberIdentity? = nil

    public enum DecodeError: Error, Sendable, Equatable {
        case blank, badMagic, badChecksum
        case unsupportedVersion(UInt32)
        case badField(String)
    }

    /// What is wrong with this header as a header (the field, in the words `decode` reports it
    /// with), or nil.
    func problem() -> String? {
        if mirrorID.count != MetadataLayout.Header.mirrorIDLength { return "mirror id length" }
        if diskName.utf8.count > Self.maxNameLength { return "name length" }
        if size <= 0 || regionSize <= 0 { return "size" }
        if record.generations.count != 2 { return "generations" }
        if (record.mode == .resyncing) != (record.resyncSource != nil) {
            return "resync source for mode \(record.mode)"
        }
        return nil
    }

    /// This header as `decode` returns it after `encode(version:)`: format 1 keeps no image
    /// identity, and an identity with inode 0 reads as none.
    func asWritten(version: UInt32) -> MemberHeader {
        var h = self
        if version < 2 || image?.inode == 0 { h.image = nil }
        return h
    }

    /// The header slot's bytes. Refused (nothing to write) when the header breaks a rule its
    /// reader checks, or would not read back as itself.
    public func encode(version: UInt32 = MemberHeader.formatVersion) throws(RDRError) -> [UInt8] {
        guard Self.supportedVersions.contains(version) else {
            throw RDRError.internalCheck("header of disk '\(diskName)' in unknown format \(version)")
        }
        if let problem = problem() { throw RDRError.internalCheck("header of disk '\(diskName)': bad \(problem)") }
        let bytes = layOut(version: version)
        guard (try? Self.decode(bytes)) == asWritten(version: version) else {
            throw RDRError.internalCheck("header of disk '\(diskName)' does not read back as written")
        }
        return bytes
    }

    /// The bytes of this header in `version`'s layout, unchecked: `encode` checks them, and
    /// tests use this alone to craft headers rdr refuses (a newer format).
    func layOut(version: UInt32) -> [UInt8] {
        typealias H = MetadataLayout.Header
        var w = ByteWriter(size: MetadataLayout.slotSize)
        w.put(bytes: Self.magic, at: H.magic)
        w.put(version, at: H.version)
        w.put(record.events, at: H.events)
        w.put(bytes: mirrorID, at: H.mirrorID)
        w.put(enclosure.rawValue, at: H.enclosure)
        w.put(record.mode.rawValue, at: H.mode)
        w.put(record.primary.rawValue, at: H.primary)
        w.put(record.resyncSource?.rawValue ?? 0, at: H.resyncSource)
        w.put(record.modeBeforeResync?.rawValue ?? 0, at: H.modeBeforeResync)
        w.put(UInt64(size), at: H.size)
        w.put(UInt64(regionSize), at: H.regionSize)
        w.put(record.baseGeneration, at: H.baseGeneration)
        w.put(record.generations[0], at: H.generation10)
        w.put(record.generations[1], at: H.generation11)
        w.put(record.planBytes, at: H.planBytes)
        w.put(record.resyncStartedMillis, at: H.resyncStarted)
        if version >= 2 {
            w.put(image?.inode ?? 0, at: H.imageInode)
            w.put(image?.birthNanos ?? 0, at: H.imageBirth)
        }
        let name = Array(diskName.utf8)
        w.put(UInt16(name.count), at: H.nameLength(version: version))
        w.put(bytes: name, at: H.nameLength(version: version) + 2)
        let crc = w.bytes.withUnsafeBytes { MetadataLayout.headerChecksum($0) }
        w.put(crc, at: H.checksum)
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> MemberHeader {
        guard bytes.count == MetadataLayout.slotSize else { throw .badField("slot length \(bytes.count)") }
        if bytes.isAllZero { throw .blank }
        guard Array(bytes[0..<magic.count]) == magic else { throw .badMagic }
        let stored = bytes.le32(at: MetadataLayout.Header.checksum)
        guard stored == bytes.withUnsafeBytes({ MetadataLayout.headerChecksum($0) }) else { throw .badChecksum }
        let header: MemberHeader
        do { header = try fields(ByteReader(bytes)) } catch let e as DecodeError {
            throw e
        } catch {
            throw .badField("truncated")
        }
        if let problem = header.problem() { throw .badField(problem) }
        return header
    }

    /// Reads every field at its offset, refusing values no field can hold.
    private static func fields(_ r: ByteReader) throws -> MemberHeader {
        typealias H = MetadataLayout.Header
        let version = try r.get(UInt32.self, at: H.version)
        guard supportedVersions.contains(version) else { throw DecodeError.unsupportedVersion(version) }
        guard let enclosure = Enclosure(rawValue: try r.get(UInt8.self, at: H.enclosure)) else {
            throw DecodeError.badField("enclosure")
        }
        guard let mode = MirrorMode(rawValue: try r.get(UInt8.self, at: H.mode)) else {
            throw DecodeError.badField("mode")
        }
        guard let primary = Enclosure(rawValue: try r.get(UInt8.self, at: H.primary)) else {
            throw DecodeError.badField("primary")
        }
        let sourceRaw = try r.get(UInt8.self, at: H.resyncSource)
        let source = Enclosure(rawValue: sourceRaw)
        guard sourceRaw == 0 || source != nil else { throw DecodeError.badField("resync source") }
        let beforeRaw = try r.get(UInt8.self, at: H.modeBeforeResync)
        let before = MirrorMode(rawValue: beforeRaw)
        guard beforeRaw == 0 || before != nil else { throw DecodeError.badField("mode before resync") }
        let size = try r.get(UInt64.self, at: H.size)
        let regionSize = try r.get(UInt64.self, at: H.regionSize)
        guard size > 0, size <= UInt64(Int64.max), regionSize > 0, regionSize <= UInt64(Int64.max) else {
            throw DecodeError.badField("size")
        }
        var image: MemberIdentity?
        if version >= 2 {
            let inode = try r.get(UInt64.self, at: H.imageInode)
            let birth = try r.get(UInt64.self, at: H.imageBirth)
            if inode != 0 { image = MemberIdentity(inode: inode, birthNanos: birth) }
        }
        let nameAt = H.nameLength(version: version)
        let nameLength = Int(try r.get(UInt16.self, at: nameAt))
        guard nameLength <= maxNameLength else { throw DecodeError.badField("name length") }
        guard let name = String(validating: try r.get(count: nameLength, at: nameAt + 2), as: UTF8.self) else {
            throw DecodeError.badField("name")
        }
        let record = MirrorRecord(
            events: try r.get(UInt64.self, at: H.events), mode: mode, primary: primary,
            baseGeneration: try r.get(UInt64.self, at: H.baseGeneration),
            generations: [try r.get(UInt64.self, at: H.generation10), try r.get(UInt64.self, at: H.generation11)],
            resyncSource: source, planBytes: try r.get(UInt64.self, at: H.planBytes),
            resyncStartedMillis: try r.get(UInt64.self, at: H.resyncStarted), modeBeforeResync: before)
        return MemberHeader(
            mirrorID: try r.get(count: H.mirrorIDLength, at: H.mirrorID), diskName: name,
            enclosure: enclosure, size: Int64(size), regionSize: Int64(regionSize), record: record,
            image: image)
    }
}
