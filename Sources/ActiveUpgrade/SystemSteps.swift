import FoundationEssentials
import Glibc
import RDR

/// Steps that change the mirrors, the services of the machine model and the partner state.
extension UpgradeController {
    func services(_ s: Session, all: Bool = false, _ change: (inout SystemModel, String) -> Void) throws(RDRError) {
        var model = try SystemModel.load(system)
        let names = all ? model.services.map(\.name) : (try config(s)?.services.map(\.name) ?? [])
        for name in names where model.service(name) != nil { change(&model, name) }
        try model.save(system)
    }

    func disableUpgradeServices(_ s: inout Session) throws(RDRError) {
        var model = try SystemModel.load(system)
        for name in try config(s)?.services.map(\.name) ?? [] {
            guard let svc = model.service(name) else { throw RDRError(.invalidState, "Service \(name) is not present") }
            if s.savedStartupTypes[name] == nil { s.savedStartupTypes[name] = svc.upgrade.startupType.rawValue }
            model.update(name, .upgrade) { $0.startupType = .Disabled; $0.running = false }
            log.add(.information, "Service \(name): startup type \(s.savedStartupTypes[name] ?? "?") saved, Disabled and stopped on the Upgrade Side", parent: currentParent)
        }
        try store.save(&s)
        try model.save(system)
    }

    func restoreUpgradeServices(_ s: Session) throws(RDRError) {
        var model = try SystemModel.load(system)
        for name in try config(s)?.services.map(\.name) ?? [] {
            let type = s.savedStartupTypes[name].flatMap(SystemModel.StartupType.init(rawValue:)) ?? .Automatic
            model.update(name, .upgrade) { $0.startupType = type; $0.running = true }
            log.add(.information, "Service \(name): startup type \(type.rawValue) restored and started on the Upgrade Side", parent: currentParent)
        }
        try model.save(system)
    }

    /// A side's services after it boots: each runs when its startup type is Automatic.
    func bootServices(_ side: Side) throws(RDRError) {
        var model = try SystemModel.load(system)
        for svc in model.services { model.update(svc.name, side) { $0.running = $0.startupType == .Automatic } }
        try model.save(system)
    }

    func backupLogs(_ s: Session) throws(RDRError) {
        guard let b = try config(s)?.logBackup else { return }
        try LogBackupWriter.run(b, systemPath: system.path, sys: system.sys, log: log, parent: currentParent)
    }

    /// Shows the partner going through `states`, each persisted and logged.
    func partner(_ states: [PartnerState], _ s: inout Session, parent: Int?) throws(RDRError) {
        for state in states {
            s.partnerState = state
            try store.save(&s)
            log.add(.information, "Upgrade Side: \(state.rawValue)", parent: parent)
        }
    }

    /// Abort from Merge: the Upgrade Side shuts down and the system restarts from the Production
    /// Side, whose applications restart from the original system disks.
    func restartFromProduction(_ s: inout Session) throws(RDRError) {
        try partner([.osShuttingDown, .dcOff], &s, parent: currentParent)
        try bootServices(.production)
        log.add(.information, "Restarted from the Production Side: applications restart from the original system disks", parent: currentParent)
        try partner([.osBooting, .osUp], &s, parent: currentParent)
    }

    /// Abort after the Upgrade Side crashed while split: its dump files go to the Production Side.
    func copyCrashDumps(_ s: inout Session) throws(RDRError) {
        guard s.crashDumps > 0 else { return }
        let names = (1...s.crashDumps).map { "Memory\($0).dmp" }.joined(separator: ", ")
        log.add(.information, "\(s.crashDumps) dump file(s) of the Upgrade Side's crash copied to the Production Side", detail: "\(names) (simulated)", parent: currentParent)
        s.crashDumps = 0
    }

    /// The last step of an abort: an Upgrade Side that is down or hung is brought online again.
    func bringUpgradeSideOnline(_ s: inout Session) throws(RDRError) {
        guard s.partnerState != .osUp else { return }
        try partner((s.partnerState.isDown ? [] : [.reset]) + [.biosPost, .osBooting, .osUp], &s, parent: currentParent)
        try bootServices(.upgrade)
    }

    /// Runs `body` on every virtual disk under the system lock (engine transitions).
    func mirrors(_ body: (VirtualDisk) throws -> Void) throws(RDRError) {
        let lock = try system.lock(command: command)
        defer { lock.release() }
        for d in system.manifest.disks {
            let disk = try system.disk(d.name)
            do { try body(disk) } catch let e as RDRError { throw e } catch { throw RDRError(.io, "\(error)") }
            log.add(.information, "RDR disk \(d.name): \(disk.record.mode)", parent: currentParent)
        }
    }

    /// Fixes each diverged disk's resync direction durably (`source(disk, primary)` names the
    /// member that wins); an already started resync keeps its direction.
    func startResyncs(_ source: @escaping (VirtualDisk, Enclosure) -> Enclosure) throws(RDRError) {
        try mirrors { d in
            let r = d.record
            if r.mode == .resyncing { return }
            let from = source(d, r.primary)
            if try d.startResync(from: from) {
                self.log.add(.information, "RDR disk \(d.name): resync from member \(from) to \(from.other) started", parent: self.currentParent)
            }
        }
    }

    func background() throws(RDRError) {
        do { try startBackgroundResync(system) } catch let e as RDRError { throw e } catch { throw RDRError(.io, "\(error)") }
    }
}
