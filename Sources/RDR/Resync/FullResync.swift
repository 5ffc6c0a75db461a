import Glibc

extension RDRSystem {
    /// Prepares a full resync of `diskName` from `source`: the way out when metadata is corrupt,
    /// missing, stale or from another disk, when a member image is missing, the wrong size, or
    /// not the file its metadata recorded. Every region of the target is marked to copy (holes in
    /// the source are punched, so it stays fast on sparse disks), and both members get fresh
    /// metadata naming this resync and recording the images as they are now. The target's file
    /// is replaced atomically first; a crash before the source's is written leaves a state that
    /// either resumes or is rebuilt again by the same command. Both images are checked (regular
    /// files, not links, not one file) before a byte is written.
    public func prepareFullResync(disk diskName: String, from source: Enclosure) throws(RDRError) {
        let d = try manifest.disk(named: diskName)
        let target = source.other
        guard let sm = d.member(source), let tm = d.member(target), let id = MirrorID.bytes(hex: d.mirrorID) else {
            throw RDRError(.corrupt, "manifest entry of disk '\(diskName)' is incomplete")
        }
        let sourceImage = file(sm.image)
        let targetImage = file(tm.image)
        let sourceIdentity = try checkedSource(sourceImage, disk: d, other: target)
        let targetFD: FileDescriptor
        let targetStatus: FileStatus
        do { (targetFD, targetStatus) = try MemberFiles.open(targetImage, .readWrite, create: true, sys: sys) } catch {
            switch error {
            case .missing: throw RDRError(.io, "cannot create \(targetImage)")
            case .notRegular(let kind): throw MemberFiles.notRegular("member image", targetImage, kind)
            case .os(let errno): throw RDRError.io(errno)
            }
        }
        defer { targetFD.close() }
        guard targetStatus.inode != sourceIdentity.inode else {
            throw RDRError(
                .corrupt,
                "member images \(sourceImage) and \(targetImage) of disk '\(diskName)' are one file (hard links); remove \(targetImage) and run the full resync again to recreate it"
            )
        }
        let g = sys.random.generation()
        let record = MirrorRecord(
            events: newestEvents(sm, tm) + 1, mode: .resyncing,
            primary: manifest.primaryEnclosure, baseGeneration: g, generations: [g, g],
            resyncSource: source, planBytes: UInt64(d.size),
            resyncStartedMillis: UInt64(max(0, sys.clock.wallMillis())), modeBeforeResync: nil)
        try io { () throws(Errno) in
            if targetStatus.size != d.size { try targetFD.truncate(to: d.size) }
            try targetFD.sync()
        }
        let members = [(tm, target, true, MemberIdentity(targetStatus)), (sm, source, false, sourceIdentity)]
        for (m, e, allDirty, image) in members {
            let header = MemberHeader(
                mirrorID: id, diskName: d.name, enclosure: e, size: d.size,
                regionSize: d.regionSize, record: record, image: image)
            try replaceMetadata(file(m.metadata), header: header, allDirty: allDirty)
        }
    }

    /// The source image, checked: a regular file of the disk's size. Returns its identity.
    private func checkedSource(_ path: String, disk d: Manifest.Disk, other: Enclosure) throws(RDRError)
        -> MemberIdentity
    {
        let fd: FileDescriptor
        let status: FileStatus
        do { (fd, status) = try MemberFiles.open(path, .readOnly, sys: sys) } catch {
            switch error {
            case .missing:
                throw RDRError(
                    .corrupt,
                    "source member image \(path) is missing; a full resync needs it — pick the other member with --from \(other)"
                )
            case .notRegular(let kind): throw MemberFiles.notRegular("source member image", path, kind)
            case .os(let errno):
                throw RDRError(
                    .corrupt,
                    "source member image \(path) cannot be opened (\(errno)); a full resync needs it — pick the other member with --from \(other)"
                )
            }
        }
        fd.close()
        guard status.size == d.size else {
            throw RDRError(
                .corrupt,
                "source member image \(path) is \(status.size) bytes, expected \(d.size); a full resync cannot copy from it — pick the other member with --from \(other)"
            )
        }
        return MemberIdentity(status)
    }

    /// The newest events either member still validly holds, so the new record is newer.
    private func newestEvents(_ members: Manifest.Member...) -> UInt64 {
        var events: UInt64 = 0
        for m in members {
            if let fd = try? FileDescriptor.open(file(m.metadata), .readOnly, sys: sys) {
                if let h = try? MetadataFile.readHeader(fd) { events = max(events, h.record.events) }
                fd.close()
            }
        }
        return events
    }

    /// New metadata written beside the old file and renamed over it; the temporary file never
    /// outlives a failure (and a crash's leftover is swept by the next command under the lock).
    private func replaceMetadata(_ path: String, header: MemberHeader, allDirty: Bool) throws(RDRError) {
        let temp = path + TemporaryFiles.metadataSuffix
        _ = sys.unlink(temp)
        do throws(RDRError) {
            _ = try MetadataFile.create(path: temp, header: header, allDirty: allDirty, replace: false, sys: sys)
            try io { () throws(Errno) in try Directory.rename(temp, to: path, sys: sys) }
        } catch {
            _ = sys.unlink(temp)
            throw error
        }
        try io { () throws(Errno) in try Directory.sync(self.path, sys: sys) }
    }
}
