extension RDRSystem {
    /// Builds the status of every disk (or the named ones) without the lock and without
    /// writing anything: metadata is read as it stands, and a running resync's published
    /// progress record is used when its process is alive and the record is fresh.
    public func status(disks names: [String] = []) throws(RDRError) -> SystemStatus {
        let selected =
            try names.isEmpty
            ? manifest.disks : names.map { (n) throws(RDRError) in try manifest.disk(named: n) }
        return SystemStatus(
            system: path, lockHolder: SystemLock.holder(systemPath: path, sys: sys),
            disks: selected.map { diskStatus($0) })
    }

    /// A published progress record older than this is a stopped process's leftover.
    static let freshProgressMillis: Int64 = 5000

    private func diskStatus(_ d: Manifest.Disk) -> DiskStatus {
        var status = DiskStatus(
            name: d.name, role: d.role, size: d.size, regionSize: d.regionSize,
            mode: .unknown, status: .error, resync: nil, members: [], error: nil)
        let disk: VirtualDisk
        do { disk = try VirtualDisk.open(system: self, disk: d, access: .readOnly, identity: .report) } catch {
            status.error = error.message
            status.members = Enclosure.allCases.map {
                memberStatus(d, $0, primary: manifest.primaryEnclosure, dirty: 0)
            }
            return status
        }
        let r = disk.record
        let dirty = disk.dirtyBytes
        status.mode = DiskStatus.Mode(r.mode)
        status.error = disk.identityProblem?.message
        let warnings = disk.metadataWarnings
        if !warnings.isEmpty { status.warnings = warnings }
        status.members = Enclosure.allCases.map { memberStatus(d, $0, primary: r.primary, dirty: dirty[$0.index]) }
        switch r.mode {
        case _ where status.error != nil:
            status.status = .error  // the bitmaps describe other files: never None, never a percent
        case .duplex:
            status.status = dirty.allSatisfy { $0 == 0 } ? .inSync : .resyncNeeded
        case .split, .merged:
            status.status = .simplex
        case .resyncing:
            let resync = resyncStatus(d, r, remaining: dirty[(r.resyncSource ?? r.primary).other.index])
            status.resync = resync
            status.status = .resync(percent: resync.percent)
        }
        return status
    }

    private func memberStatus(_ d: Manifest.Disk, _ e: Enclosure, primary: Enclosure, dirty: Int64) -> MemberStatus {
        let m = d.member(e)
        let path = file(m?.image ?? "")
        let allocated =
            (try? FileDescriptor.open(path, .readOnly, sys: sys)).map { fd -> Int64 in
                defer { fd.close() }
                return (try? fd.status().allocated) ?? 0
            } ?? 0
        return MemberStatus(
            enclosure: e.rawValue, side: e == primary ? "production" : "upgrade", path: path,
            metadataPath: file(m?.metadata ?? ""), dirtyBytes: dirty, allocatedBytes: allocated)
    }

    /// Progress from the bitmaps (what is left on the target), or from the running process's
    /// published record when it is alive, fresh and of this resync.
    private func resyncStatus(_ d: Manifest.Disk, _ r: MirrorRecord, remaining: Int64) -> ResyncStatus {
        let source = r.resyncSource ?? r.primary
        let total = Int64(r.planBytes)
        var resync = ResyncStatus(
            source: source.rawValue, target: source.other.rawValue, bytesTotal: total,
            bytesDone: max(0, total - remaining), percent: 0, rateBytesPerSecond: 0,
            etaSeconds: nil, running: false, pid: nil)
        if let p = ProgressPublisher.read(progressPath(disk: d.name), sys: sys), p.state == .running,
            p.source == source.rawValue, processIsAlive(p.pid),
            sys.clock.wallMillis() - p.updatedMillis < Self.freshProgressMillis
        {
            resync.bytesTotal = p.bytesTotal
            resync.bytesDone = p.bytesDone
            resync.rateBytesPerSecond = p.rateBytesPerSecond
            resync.etaSeconds = p.etaSeconds
            resync.running = true
            resync.pid = p.pid
        }
        resync.percent = ResyncProgress.percent(done: resync.bytesDone, total: resync.bytesTotal, finished: false)
        return resync
    }
}
