import Foundation
import Glibc

extension RDRSystem {
    /// Prepares a full resync of `diskName` from `source`: the way out when metadata is corrupt,
    /// missing, stale or from another disk, or a member image is missing or the wrong size.
    /// Every region of the target is marked to copy (holes in the source are punched, so it
    /// stays fast on sparse disks), and both members get fresh metadata naming this resync.
    /// The target's file is replaced atomically first; a crash before the source's is written
    /// leaves a state that either resumes or is rebuilt again by the same command.
    public func prepareFullResync(disk diskName: String, from source: Enclosure) throws(RDRError) {
        let d = try manifest.disk(named: diskName)
        let target = source.other
        guard let sm = d.member(source), let tm = d.member(target), let id = MirrorID.bytes(hex: d.mirrorID) else {
            throw RDRError(.corrupt, "manifest entry of disk '\(diskName)' is incomplete")
        }
        let sourceImage = file(sm.image)
        do {
            let fd = try FileDescriptor.open(sourceImage, .readOnly, sys: sys)
            defer { fd.close() }
            let size = try fd.status().size
            guard size == d.size else {
                throw RDRError(.corrupt, "source member image \(sourceImage) is \(size) bytes, expected \(d.size); a full resync cannot copy from it — pick the other member with --from \(target)")
            }
        } catch let e as Errno {
            throw RDRError(.corrupt, "source member image \(sourceImage) cannot be opened (\(e)); a full resync needs it — pick the other member with --from \(target)")
        } catch let e as RDRError {
            throw e
        } catch {
            throw RDRError(.io, "\(error)")
        }
        // The newest events either member still validly holds, so the new record is newer.
        var events: UInt64 = 0
        for m in [sm, tm] {
            if let fd = try? FileDescriptor.open(file(m.metadata), .readOnly, sys: sys) {
                if let h = try? MetadataFile.readHeader(fd) { events = max(events, h.record.events) }
                fd.close()
            }
        }
        let g = UInt64.random(in: 1...UInt64.max)
        let record = MirrorRecord(events: events + 1, mode: .resyncing, primary: manifest.primaryEnclosure,
                                  baseGeneration: g, generations: [g, g], resyncSource: source,
                                  planBytes: UInt64(d.size), resyncStartedMillis: UInt64(Date().timeIntervalSince1970 * 1000),
                                  modeBeforeResync: nil)
        try io { () throws(Errno) in
            let targetImage = file(tm.image)
            let fd = try FileDescriptor.openRaw(targetImage, flags: O_RDWR | O_CREAT | O_CLOEXEC, mode: 0o644, sys: sys)
            defer { fd.close() }
            if try fd.status().size != d.size { try fd.truncate(to: d.size) }
            try fd.sync()
            for (m, e, allDirty) in [(tm, target, true), (sm, source, false)] {
                let path = file(m.metadata)
                let header = MemberHeader(mirrorID: id, diskName: d.name, enclosure: e, size: d.size, regionSize: d.regionSize, record: record)
                _ = try MetadataFile.create(path: path + ".new", header: header, allDirty: allDirty, replace: true, sys: sys)
                try Directory.rename(path + ".new", to: path, sys: sys)
                try Directory.sync(self.path, sys: sys)
            }
        }
    }
}
