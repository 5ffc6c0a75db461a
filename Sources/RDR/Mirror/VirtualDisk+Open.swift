import Glibc

/// What to do when a disk's member images are not the files its metadata recorded.
public enum IdentityCheck: Sendable {
    /// Refuse to open (every command that changes or relies on the disk).
    case enforce
    /// Open, and say why in `identityProblem`; every change is refused (status, verify, adopt).
    case report
}

/// Opening a virtual disk: both members' images and metadata, each checked against the
/// manifest, against each other and against the files the metadata recorded.
extension VirtualDisk {
    static func advice(_ disk: String, rebuildFrom good: Enclosure) -> String {
        "to rebuild it from member \(good) run 'rdr disk resync \(disk) --from \(good) --full --force' (overwrites member \(good.other))"
    }

    /// One member's open files, and what they say.
    struct OpenMember {
        let image: FileDescriptor
        let identity: MemberIdentity
        let metadata: MetadataFile
        let header: MemberHeader
    }

    static func open(
        system: RDRSystem, disk: Manifest.Disk, access: FileDescriptor.Access,
        identity check: IdentityCheck = .enforce
    ) throws(RDRError) -> VirtualDisk {
        var members: [OpenMember] = []
        let cleanup = { for m in members { m.image.close() } }
        for e in Enclosure.allCases {
            do { members.append(try openMember(e, system: system, disk: disk, access: access)) } catch {
                cleanup()
                throw error
            }
        }
        let imagePaths = disk.members.sorted { $0.enclosure < $1.enclosure }.map { system.file($0.image) }
        if members[0].identity.inode == members[1].identity.inode {
            cleanup()
            throw RDRError(
                .corrupt,
                "both member images of disk '\(disk.name)' are one file (\(members[0].identity)): each member needs its own image; restore the other member's image file"
            )
        }
        let record = try reconcile(
            members.map(\.header), disk: disk.name, metadata: members.map(\.metadata),
            writable: access == .readWrite, cleanup: cleanup)
        let finding = IdentityFinding.check(recorded: members.map(\.header.image), found: members.map(\.identity))
        let problem = finding.error(disk: disk.name, images: imagePaths)
        if let problem, check == .enforce {
            cleanup()
            throw problem
        }
        let bitmaps = members.map(\.metadata.durable)
        var interrupted = DirtyBitmap(regionCount: bitmaps[0].regionCount)
        if record.mode == .duplex {
            interrupted.formUnion(bitmaps[0])
            interrupted.formUnion(bitmaps[1])
        }
        let state = State(
            record: record, bitmaps: bitmaps, metadata: members.map(\.metadata),
            duplexMarked: DirtyBitmap(regionCount: bitmaps[0].regionCount),
            interruptedAtOpen: interrupted, mirroredDuringResync: nil, identity: finding)
        let opened = VirtualDisk(
            system: system, disk: disk, images: members.map(\.image), identities: members.map(\.identity),
            imagePaths: imagePaths,
            metadataPaths: disk.members.sorted { $0.enclosure < $1.enclosure }.map { system.file($0.metadata) },
            state: state, writable: access == .readWrite)
        // A format 1 header recorded no identity: record the images found now (upgrading both
        // headers to format 2) the first time the disk is opened for a change.
        if access == .readWrite, problem == nil, members.contains(where: { $0.header.image == nil }) {
            try opened.recordIdentities()
        }
        return opened
    }

    /// Opens one member's image and metadata, refusing anything the manifest does not describe.
    private static func openMember(
        _ e: Enclosure, system: RDRSystem, disk: Manifest.Disk,
        access: FileDescriptor.Access
    ) throws(RDRError) -> OpenMember {
        guard let m = disk.member(e) else {
            throw RDRError(.corrupt, "manifest names no member \(e) for disk '\(disk.name)'")
        }
        let imagePath = system.file(m.image)
        let metaPath = system.file(m.metadata)
        let image: FileDescriptor
        let status: FileStatus
        do { (image, status) = try MemberFiles.open(imagePath, access, sys: system.sys) } catch {
            switch error {
            case .missing:
                throw RDRError(
                    .corrupt,
                    "member image \(imagePath) of disk '\(disk.name)' (enclosure \(e)) is missing; restore it, or \(advice(disk.name, rebuildFrom: e.other)) (it recreates the image)"
                )
            case .notRegular(let kind): throw MemberFiles.notRegular("member image", imagePath, kind)
            case .os(let errno): throw RDRError.io(errno)
            }
        }
        guard status.size == disk.size else {
            image.close()
            throw RDRError(
                .corrupt,
                "member image \(imagePath) of disk '\(disk.name)' is \(status.size) bytes, expected \(disk.size); restore the right image, or \(advice(disk.name, rebuildFrom: e.other))"
            )
        }
        do {
            let (file, header) = try loadMetadata(metaPath, access: access, disk: disk, enclosure: e, sys: system.sys)
            return OpenMember(image: image, identity: MemberIdentity(status), metadata: file, header: header)
        } catch {
            image.close()
            throw error
        }
    }

    private static func loadMetadata(
        _ path: String, access: FileDescriptor.Access, disk: Manifest.Disk, enclosure e: Enclosure,
        sys: any SystemCalls
    ) throws(RDRError) -> (MetadataFile, MemberHeader) {
        let fd: FileDescriptor
        do { (fd, _) = try MemberFiles.open(path, access, sys: sys) } catch {
            switch error {
            case .missing:
                throw describe(
                    .os(Errno(code: ENOENT, operation: "open", path: path)), disk: disk.name, enclosure: e, path: path)
            case .notRegular(let kind): throw MemberFiles.notRegular("metadata", path, kind)
            case .os(let errno): throw RDRError.io(errno)
            }
        }
        let loaded: (MetadataFile, MemberHeader)
        do { loaded = try MetadataFile.load(fd) } catch {
            throw describe(error, disk: disk.name, enclosure: e, path: path)
        }
        try check(loaded.1, disk: disk, enclosure: e, path: path)
        return loaded
    }

    private static func check(_ h: MemberHeader, disk: Manifest.Disk, enclosure e: Enclosure, path: String)
        throws(RDRError)
    {
        let fix = advice(disk.name, rebuildFrom: e.other)
        guard MirrorID.hex(h.mirrorID) == disk.mirrorID else {
            throw RDRError(
                .corrupt,
                "metadata \(path) belongs to another disk ('\(h.diskName)', mirror \(MirrorID.hex(h.mirrorID).prefix(8))…), not to '\(disk.name)'; put the right file back, or \(fix)"
            )
        }
        guard h.enclosure == e else {
            throw RDRError(
                .corrupt,
                "metadata \(path) is member \(h.enclosure)'s, but the manifest uses it for member \(e) of '\(disk.name)'; swap the files back, or \(fix)"
            )
        }
        guard h.size == disk.size, h.regionSize == disk.regionSize else {
            throw RDRError(
                .corrupt,
                "metadata \(path) describes \(h.size) bytes in \(h.regionSize)-byte regions, the manifest \(disk.size) in \(disk.regionSize); \(fix)"
            )
        }
    }

    private static func describe(_ error: MetadataFile.LoadError, disk: String, enclosure e: Enclosure, path: String)
        -> RDRError
    {
        let fix = advice(disk, rebuildFrom: e.other)
        switch error {
        case .os(let errno) where errno.code == ENOENT:
            return RDRError(.corrupt, "metadata \(path) of disk '\(disk)' member \(e) is missing; \(fix)")
        case .os(let errno):
            return RDRError.io(errno)
        case .header(.unsupportedVersion(let v), _), .header(_, .unsupportedVersion(let v)):
            return RDRError(
                .corrupt,
                "metadata \(path) of disk '\(disk)' member \(e) is in format \(v), which this rdr does not read (it reads formats \(MemberHeader.supportedVersions.lowerBound) to \(MemberHeader.supportedVersions.upperBound)); use the rdr that wrote it"
            )
        case .header(let a, let b):
            let what =
                (a == .blank && b == .blank)
                ? "has no header"
                : (a == .badChecksum || b == .badChecksum)
                    ? "has a bad checksum in both header slots" : "has no valid header (\(a), \(b))"
            return RDRError(
                .corrupt, "metadata \(path) of disk '\(disk)' member \(e) \(what) and is not trusted; \(fix)")
        case .length(let actual, let expected):
            return RDRError(
                .corrupt,
                "metadata \(path) of disk '\(disk)' member \(e) is \(actual) bytes, expected \(expected) (truncated?); \(fix)"
            )
        case .page(let p):
            return RDRError(
                .corrupt,
                "metadata \(path) of disk '\(disk)' member \(e) has a corrupt bitmap page \(p) (bad checksum in both slots); \(fix)"
            )
        }
    }

    /// Decides the mirror record from both members' copies. Equal: fine. One event apart: the
    /// newer copy is the intent of an interrupted transition; roll the other forward. Anything
    /// else: the members' histories do not meet, and a bitmap resync would be a guess.
    private static func reconcile(
        _ headers: [MemberHeader], disk: String, metadata: [MetadataFile], writable: Bool, cleanup: () -> Void
    ) throws(RDRError) -> MirrorRecord {
        let a = headers[0].record
        let b = headers[1].record
        if a == b { return a }
        let (newer, lagging) = a.events >= b.events ? (0, 1) : (1, 0)
        let n = headers[newer].record
        let l = headers[lagging].record
        let ne = Enclosure(index: newer) ?? .ten
        let le = Enclosure(index: lagging) ?? .eleven
        guard n.events == l.events + 1 else {
            cleanup()
            let why =
                n.events == l.events
                ? "disagree at the same event count \(n.events)"
                : "are \(n.events - l.events) events apart (member \(le) is stale)"
            throw RDRError(
                .corrupt,
                "members of disk '\(disk)' \(why); refusing a bitmap resync. Pick the member to keep and run 'rdr disk resync \(disk) --from \(ne) --full --force' (or --from \(le))"
            )
        }
        if writable {
            var header = headers[lagging]
            header.record = n
            do { try metadata[lagging].writeHeader(header) } catch {
                cleanup()
                throw error
            }
        }
        return n
    }
}
