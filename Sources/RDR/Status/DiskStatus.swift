import Foundation
import Glibc

/// `rdr status` as data: what `--json` prints and the text view renders.
public struct SystemStatus: Codable, Sendable {
    public var system: String
    public var lockHolder: String?
    public var disks: [DiskStatus]
}

public struct MemberStatus: Codable, Sendable {
    public var enclosure: UInt8
    public var side: String
    public var path: String
    public var metadataPath: String
    public var dirtyBytes: Int64
    public var allocatedBytes: Int64
}

public struct ResyncStatus: Codable, Sendable {
    public var source: UInt8
    public var target: UInt8
    public var bytesTotal: Int64
    public var bytesDone: Int64
    public var percent: Int
    public var rateBytesPerSecond: Double
    public var etaSeconds: Double?
    /// True while a process is copying (its published record is fresh); false when stopped.
    public var running: Bool
    public var pid: Int32?
}

public struct DiskStatus: Codable, Sendable {
    public var name: String
    public var role: String
    public var size: Int64
    public var regionSize: Int64
    public var mode: String
    /// `None`, `Resync nn%`, `Resync needed`, `Simplex`, or `Error`.
    public var status: String
    public var resync: ResyncStatus?
    public var members: [MemberStatus]
    public var error: String?
    public var warnings: [String]?

    enum CodingKeys: String, CodingKey {
        case name, role, size, regionSize, mode, status, resync, members, error, warnings
    }

    // `resync` is always present (null when not resyncing), as the published JSON shape says.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(role, forKey: .role)
        try c.encode(size, forKey: .size)
        try c.encode(regionSize, forKey: .regionSize)
        try c.encode(mode, forKey: .mode)
        try c.encode(status, forKey: .status)
        if let resync { try c.encode(resync, forKey: .resync) } else { try c.encodeNil(forKey: .resync) }
        try c.encode(members, forKey: .members)
        try c.encodeIfPresent(error, forKey: .error)
        try c.encodeIfPresent(warnings, forKey: .warnings)
    }
}

extension RDRSystem {
    /// Builds the status of every disk (or the named ones) without the lock and without
    /// writing anything: metadata is read as it stands, and a running resync's published
    /// progress record is used when its process is alive and the record is fresh.
    public func status(disks names: [String] = []) throws(RDRError) -> SystemStatus {
        let selected = try names.isEmpty ? manifest.disks : names.map { (n) throws(RDRError) in try manifest.disk(named: n) }
        return SystemStatus(system: path, lockHolder: SystemLock.holder(systemPath: path, sys: sys),
                            disks: selected.map { diskStatus($0) })
    }

    private func diskStatus(_ d: Manifest.Disk) -> DiskStatus {
        let primary = manifest.primaryEnclosure
        func member(_ e: Enclosure, dirty: Int64) -> MemberStatus {
            let m = d.member(e)
            let path = file(m?.image ?? "")
            let allocated = (try? FileDescriptor.open(path, .readOnly, sys: sys)).map { fd -> Int64 in
                defer { fd.close() }
                return (try? fd.status().allocated) ?? 0
            } ?? 0
            return MemberStatus(enclosure: e.rawValue, side: e == primary ? "production" : "upgrade", path: path,
                                metadataPath: file(m?.metadata ?? ""), dirtyBytes: dirty, allocatedBytes: allocated)
        }
        var status = DiskStatus(name: d.name, role: d.role.rawValue, size: d.size, regionSize: d.regionSize,
                                mode: "unknown", status: "Error", resync: nil, members: [], error: nil)
        let disk: VirtualDisk
        do { disk = try VirtualDisk.open(system: self, disk: d, access: .readOnly, identity: .report) } catch {
            status.error = error.message
            status.members = Enclosure.allCases.map { member($0, dirty: 0) }
            return status
        }
        let r = disk.record
        let dirty = disk.dirtyBytes
        status.mode = r.mode.description
        status.error = disk.identityProblem?.message
        let warnings = disk.metadataWarnings
        if !warnings.isEmpty { status.warnings = warnings }
        status.members = Enclosure.allCases.map { e in
            var m = member(e, dirty: dirty[e.index])
            m.side = e == r.primary ? "production" : "upgrade"
            return m
        }
        switch r.mode {
        case _ where status.error != nil:
            status.status = "Error"  // the bitmaps describe other files: never None, never a percent
        case .duplex:
            status.status = dirty.allSatisfy { $0 == 0 } ? "None" : "Resync needed"
        case .split, .merged:
            status.status = "Simplex"
        case .resyncing:
            let source = r.resyncSource ?? r.primary
            let total = Int64(r.planBytes)
            let remaining = dirty[source.other.index]
            var resync = ResyncStatus(source: source.rawValue, target: source.other.rawValue, bytesTotal: total,
                                      bytesDone: max(0, total - remaining), percent: 0, rateBytesPerSecond: 0,
                                      etaSeconds: nil, running: false, pid: nil)
            if let p = ProgressPublisher.read(progressPath(disk: d.name)), p.state == "running", p.source == source.rawValue,
               processIsAlive(p.pid), Int64(Date().timeIntervalSince1970 * 1000) - p.updatedMillis < 5000 {
                resync.bytesTotal = p.bytesTotal
                resync.bytesDone = p.bytesDone
                resync.rateBytesPerSecond = p.rateBytesPerSecond
                resync.etaSeconds = p.etaSeconds
                resync.running = true
                resync.pid = p.pid
            }
            resync.percent = ResyncProgress.percent(done: resync.bytesDone, total: resync.bytesTotal, finished: false)
            status.resync = resync
            status.status = "Resync \(resync.percent)%"
        }
        return status
    }

    private func processIsAlive(_ pid: Int32) -> Bool {
        pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)
    }
}
