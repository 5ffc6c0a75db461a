import Glibc

extension RDRSystem {
    /// Creates a system: images (sparse), metadata, then the manifest last, so a system without
    /// a manifest is never mistaken for a complete one. The caller holds the system lock.
    ///
    /// Without `force` no existing file is replaced: every file it would write must be absent
    /// (checked before anything is written, and again by `O_EXCL` as each is created). With
    /// `force`, the old manifest's member files and any file in the way are deleted first. A
    /// failure removes exactly the files and directories this call created.
    public static func create(
        at path: String, disks: [DiskSpec], primary: Enclosure, force: Bool,
        cancellation: CancellationFlag? = nil, sys: any SystemCalls = LinuxSystemCalls()
    ) throws(RDRError) -> RDRSystem {
        var names = Set<String>()
        for d in disks {
            try d.validate()
            guard names.insert(d.name).inserted else {
                throw RDRError(.invalidArgument, "disk '\(d.name)' is given twice")
            }
        }
        guard !disks.isEmpty else { throw RDRError(.invalidArgument, "a system needs at least one disk") }
        let planned =
            [Manifest.fileName]
            + disks.flatMap { d in Enclosure.allCases.flatMap { [imageName(d.name, $0), metadataName(d.name, $0)] } }
        if !force { try refuseExisting(planned, in: path, sys: sys) }
        let made = try io { () throws(Errno) in try Directory.make(path, sys: sys) }
        var created: [String] = []
        do throws(RDRError) {
            if force { removeForReplacement(planned, in: path, sys: sys) }
            let manifest = try writeMembers(
                disks, primary: primary, in: path, created: &created, cancellation: cancellation, sys: sys)
            try io { () throws(Errno) in
                created.append(path + "/" + Manifest.fileName)
                try Directory.writeAtomically(manifest.encoded(), to: path + "/" + Manifest.fileName, sys: sys)
            }
            return RDRSystem(path: path, manifest: manifest, sys: sys)
        } catch {
            for file in created.reversed() { _ = sys.unlink(file) }
            Directory.removeCreated(made, sys: sys)
            throw error
        }
    }

    /// Deletes this system's files, the manifest first: undoes a `create` whose caller failed
    /// before it could finish setting the system up.
    public func removeFiles() {
        _ = sys.unlink(manifestPath)
        for d in manifest.disks {
            for m in d.members {
                _ = sys.unlink(file(m.image))
                _ = sys.unlink(file(m.metadata))
            }
        }
    }

    static func imageName(_ disk: String, _ e: Enclosure) -> String { "\(disk)-\(e)\(MemberFiles.imageSuffix)" }
    static func metadataName(_ disk: String, _ e: Enclosure) -> String { "\(disk)-\(e)\(MemberFiles.metadataSuffix)" }

    private static func refuseExisting(_ names: [String], in path: String, sys: any SystemCalls) throws(RDRError) {
        if exists(at: path, sys: sys) {
            throw RDRError(
                .invalidState,
                "a system already exists at \(path); use --force to replace it (its images are deleted) or pick another --system"
            )
        }
        for name in names where Directory.exists(path + "/" + name, sys: sys) {
            throw RDRError(
                .invalidState,
                "\(path)/\(name) already exists and init never replaces a file it did not create; move it away, pick another --system, or use --force (which deletes it)"
            )
        }
    }

    /// `--force`: the old system's files, the manifest first so a crash leaves no half system.
    private static func removeForReplacement(_ planned: [String], in path: String, sys: any SystemCalls) {
        let old = try? open(at: path, sys: sys)
        _ = sys.unlink(path + "/" + Manifest.fileName)
        for d in old?.manifest.disks ?? [] {
            for m in d.members {
                _ = sys.unlink(path + "/" + m.image)
                _ = sys.unlink(path + "/" + m.metadata)
            }
            _ = sys.unlink(path + "/" + progressName(disk: d.name))
        }
        for name in planned { _ = sys.unlink(path + "/" + name) }
    }

    /// Creates every member's sparse image and metadata (recording each image's identity),
    /// appending each file to `created` before it exists, and returns the manifest to write.
    private static func writeMembers(
        _ disks: [DiskSpec], primary: Enclosure, in path: String, created: inout [String],
        cancellation: CancellationFlag?, sys: any SystemCalls
    ) throws(RDRError) -> Manifest {
        var manifestDisks: [Manifest.Disk] = []
        let generation = sys.random.generation()
        for d in disks {
            let id = MirrorID.random(sys.random)
            var members: [Manifest.Member] = []
            for e in Enclosure.allCases {
                let image = imageName(d.name, e)
                let meta = metadataName(d.name, e)
                // An imported disk: the first member copies the source, the second the first, so
                // the two are identical even if the source changes meanwhile.
                let source = d.source.map {
                    e == Enclosure.allCases[0] ? $0 : path + "/" + imageName(d.name, Enclosure.allCases[0])
                }
                let identity = try createImage(
                    path + "/" + image, size: d.size, from: source, disk: d.name, created: &created,
                    cancellation: cancellation, sys: sys)
                let record = MirrorRecord.fresh(generation: generation, primary: primary)
                let header = MemberHeader(
                    mirrorID: id, diskName: d.name, enclosure: e, size: d.size,
                    regionSize: d.regionSize, record: record, image: identity)
                _ = try MetadataFile.create(
                    path: path + "/" + meta, header: header, allDirty: false, replace: false,
                    sys: sys)
                created.append(path + "/" + meta)
                members.append(Manifest.Member(enclosure: e.rawValue, image: image, metadata: meta))
            }
            manifestDisks.append(
                Manifest.Disk(
                    name: d.name, role: d.role, size: d.size, regionSize: d.regionSize,
                    mirrorID: MirrorID.hex(id), members: members))
        }
        return Manifest(format: Manifest.formatName, primary: primary.rawValue, disks: manifestDisks)
    }

    /// A new sparse image of `size` bytes — empty, or a copy of the raw image `source` — durable;
    /// returns which file it is.
    private static func createImage(
        _ path: String, size: Int64, from source: String?, disk: String,
        created: inout [String], cancellation: CancellationFlag?, sys: any SystemCalls
    ) throws(RDRError) -> MemberIdentity {
        let input = try source.map { (file) throws(RDRError) in try openSource(file, disk: disk, size: size, sys: sys) }
        defer { input?.close() }
        do {
            let fd = try FileDescriptor.create(path, sys: sys)
            created.append(path)
            defer { fd.close() }
            if let input {
                try ImageImport.fill(fd, from: input, size: size, cancellation: cancellation)
            } else {
                try fd.truncate(to: size)
            }
            try fd.sync()
            return MemberIdentity(try fd.status())
        } catch {
            if error.code == EINTR, cancellation?.isCancelled == true {
                throw RDRError(.interrupted, "init interrupted while importing disk '\(disk)'; nothing was kept")
            }
            throw RDRError.io(error)
        }
    }

    /// The import's source, checked again now that it is read: it must still be the regular
    /// file of the size the disk was planned with.
    private static func openSource(_ file: String, disk: String, size: Int64, sys: any SystemCalls) throws(RDRError)
        -> FileDescriptor
    {
        let fd = try ImageSource.open(file, disk: disk, sys: sys)
        let status: FileStatus
        do { status = try fd.status() } catch {
            fd.close()
            throw RDRError.io(error)
        }
        guard status.isRegular, status.size == size else {
            fd.close()
            throw ImageSource.refusal(
                disk,
                "\(file) changed since init checked it (now \(status.kind) of \(status.size) bytes); run init again")
        }
        return fd
    }
}
