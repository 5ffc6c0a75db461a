import Foundation
import RDR

/// Runs upgrade requests. Each request is a list of named steps; the session is persisted
/// before a step starts (Busy, its index) and after it ends, so a crash anywhere leaves the
/// interrupted step on disk: the next command reports it Broken and `retry` runs the request
/// on from that step (every step is idempotent), or `abort` rolls back.
public final class UpgradeController {
    public private(set) var system: RDRSystem
    public let store: SessionStore
    public let log: ActivityLog
    let command: String
    /// Starts copying every resync already started, without waiting (the CLI spawns a
    /// detached worker; tests may run them in-process).
    let startBackgroundResync: (RDRSystem) throws -> Void
    /// Test seam: `RDR_AU_CRASH_POINT=k` kills this process at the k-th step boundary.
    private let crashPoint = ProcessInfo.processInfo.environment["RDR_AU_CRASH_POINT"].flatMap(Int.init)
    private var crashCounter = 0

    struct Step {
        let name: String
        let state: UpgradeState
        let body: (inout Session) throws -> Void
    }

    public init(system: RDRSystem, command: String, startBackgroundResync: @escaping (RDRSystem) throws -> Void) {
        self.system = system
        store = SessionStore(system: system)
        log = ActivityLog(systemPath: system.path)
        self.command = command
        self.startBackgroundResync = startBackgroundResync
    }

    private func crashHook() {
        crashCounter += 1
        if let k = crashPoint, crashCounter == k { kill(getpid(), SIGKILL) }
    }

    // MARK: Requests

    /// Runs `request`; `configPath` applies to check and split.
    @discardableResult
    public func perform(_ request: UserRequest, configPath: String? = nil) throws(RDRError) -> Session {
        let lock = try store.lock(command: command)
        defer { lock.release() }
        var s = try store.load()
        if s.operationalState == .busy {
            // We hold the lock, so whoever left it Busy is gone: an interrupted request.
            s.operationalState = .broken
            s.failure = "interrupted during step '\(s.failedStep ?? "?")'"
            try store.save(&s)
            log.add(.error, "\(s.request?.title ?? "Request") was interrupted during step '\(s.failedStep ?? "?")'", detail: "run 'rdr retry' to complete it or 'rdr abort' to roll back")
        }
        try checkAllowed(request, s)
        var effective = request
        var start = 0
        if request == .retry {
            guard let r = s.request else { throw RDRError(.invalidState, "there is no request to retry") }
            effective = r
            start = s.nextStep
        }
        if effective == .abort && s.abortedFrom == nil { s.abortedFrom = s.upgradeState }
        if let configPath, [.check, .split].contains(effective) {
            s.configurationPath = configPath
            s.configurationName = (configPath as NSString).lastPathComponent
            s.configurationDirectory = (configPath as NSString).deletingLastPathComponent
        }
        if request != .retry { s.failure = nil }
        let steps = try self.steps(effective, s)
        return try run(effective, steps, from: request == .retry ? start : 0, session: s)
    }

    private func checkAllowed(_ request: UserRequest, _ s: Session) throws(RDRError) {
        let allowed = s.allowedRequests
        let ok: Bool
        switch request {
        case .retry: ok = s.operationalState == .broken
        default: ok = allowed.contains(request.rawValue)
        }
        guard ok else {
            let list = allowed.isEmpty ? "none (a request is running)" : allowed.joined(separator: ", ")
            throw RDRError(.invalidState, "'\(request.rawValue)' is not allowed in state \(s.upgradeState.rawValue) (\(s.operationalState.rawValue)); allowed now: \(list)")
        }
    }

    private func run(_ request: UserRequest, _ steps: [Step], from start: Int, session: Session) throws(RDRError) -> Session {
        var s = session
        s.request = request
        let top = log.add(.pending, "\(request.title) request\(start > 0 ? " (retry from step \(start + 1))" : "")")
        for i in start..<steps.count {
            let step = steps[i]
            s.upgradeState = step.state
            s.operationalState = .busy
            s.nextStep = i
            s.failedStep = step.name
            try store.save(&s)
            crashHook()
            let entry = log.add(.pending, step.name, parent: top)
            do {
                currentParent = entry
                try step.body(&s)
            } catch {
                let message = (error as? RDRError)?.message ?? "\(error)"
                s.operationalState = .broken
                s.failure = message
                try store.save(&s)
                log.update(entry, .error, detail: message)
                log.update(top, .error, detail: "\(step.name) failed; fix the cause and run 'rdr retry'\(s.upgradeState.canAbort ? ", or 'rdr abort'" : "")")
                throw error as? RDRError ?? RDRError(.io, message)
            }
            log.update(entry, .success)
            crashHook()
            s.nextStep = i + 1
            try store.save(&s)
        }
        s.upgradeState = final(request, s)
        s.operationalState = .ready
        s.failedStep = nil
        s.failure = nil
        s.nextStep = 0
        if request == .finish { s.request = nil }
        try store.save(&s)
        log.update(top, .success, detail: s.statusBar)
        return s
    }

    private func final(_ request: UserRequest, _ s: Session) -> UpgradeState {
        switch request {
        case .check, .finish, .retry: return .idle
        case .split: return .split
        case .merge: return .merge
        case .commit: return .commit
        case .abort: return .abort
        }
    }

    /// The log entry steps nest their own entries under.
    private var currentParent: Int?

    // MARK: Steps

    private func config(_ s: Session) throws(RDRError) -> Configuration? {
        try s.configurationPath.map { (p) throws(RDRError) in try Configuration.load(p, baseDirectory: s.configurationDirectory) }
    }

    private func steps(_ request: UserRequest, _ session: Session) throws(RDRError) -> [Step] {
        switch request {
        case .check:
            return [Step(name: "Check readiness", state: .idle) { s in try self.readiness(s, request: .checkReadiness) }]
        case .split:
            return [
                Step(name: "Load configuration", state: .prepareSplit) { s in try self.stageConfiguration(&s) },
                Step(name: "Check readiness", state: .prepareSplit) { s in try self.readiness(s, request: .prepareSplit) },
                Step(name: "Apply disk selection", state: .prepareSplit) { s in
                    if let c = try self.config(s), !c.disks.isEmpty { self.system = try self.system.settingRoles(c.disks) }
                },
                Step(name: "Execute custom actions (Advanced)", state: .prepareSplit) { s in try self.actions(.Advanced, s, .prepareSplit) },
                Step(name: "Stop applications on the Upgrade Side", state: .split) { s in try self.actions(.StopApplication, s, .stop, sides: ["Upgrade"]) },
                Step(name: "Disable and stop services on the Upgrade Side", state: .split) { s in try self.disableUpgradeServices(&s) },
                Step(name: "Split the RDR mirrors", state: .split) { _ in try self.mirrors { d in if d.record.mode == .duplex { try d.split() } } },
                Step(name: "Isolate the Upgrade Side from data disks", state: .split) { _ in
                    let data = self.system.manifest.disks.filter { $0.role == .data }.map(\.name)
                    self.log.add(.information, data.isEmpty ? "No data disks to isolate" : "The Upgrade Side has no access to \(data.joined(separator: ", "))", parent: self.currentParent)
                },
                Step(name: "Execute custom actions (Advanced)", state: .split) { s in try self.actions(.Advanced, s, .executeSplit) },
            ]
        case .merge:
            return [
                Step(name: "Check readiness to merge", state: .prepareMerge) { s in try self.mergeReadiness(s) },
                Step(name: "Execute custom actions (Advanced)", state: .prepareMerge) { s in try self.actions(.Advanced, s, .prepareMerge) },
                Step(name: "Stop applications on the Production Side", state: .merge) { s in try self.actions(.StopApplication, s, .stop, sides: ["Production"]) },
                Step(name: "Stop services on the Production Side", state: .merge) { s in try self.services(s) { m, name in m.update(name, .production) { $0.running = false } } },
                Step(name: "Execute custom actions (Backup)", state: .merge) { s in try self.actions(.Backup, s, .backup, sides: ["Production"]) },
                Step(name: "Back up event logs", state: .merge) { s in try self.backupLogs(s) },
                Step(name: "Merge the RDR mirrors", state: .merge) { _ in try self.mirrors { d in if d.record.mode == .split { try d.merge() } } },
                Step(name: "Restore and start services on the Upgrade Side", state: .merge) { s in try self.restoreUpgradeServices(s) },
                Step(name: "Start applications on the Upgrade Side", state: .merge) { s in try self.actions(.StartApplication, s, .start, sides: ["Upgrade"]) },
                Step(name: "Execute custom actions (Advanced)", state: .merge) { s in try self.actions(.Advanced, s, .executeMerge) },
            ]
        case .commit:
            return [
                Step(name: "Execute custom actions (Advanced)", state: .commit) { s in try self.actions(.Advanced, s, .commit) },
                Step(name: "Start RDR resynchronization (system disks Upgrade → Production, data disks Production → Upgrade)", state: .commit) { _ in
                    try self.startResyncs { d, primary in d.role.isSystem ? primary.other : primary }
                },
                Step(name: "Resynchronize in the background", state: .commit) { _ in try self.background() },
                Step(name: "Both sides run the upgraded system", state: .commit) { s in
                    try self.services(s) { m, name in if let svc = m.service(name) { m.update(name, .production) { $0 = svc.upgrade } } }
                },
            ]
        case .abort:
            var steps = [Step(name: "Execute custom actions (Advanced)", state: .abort) { s in try self.actions(.Advanced, s, .abort) }]
            if session.abortedFrom == .merge || (session.abortedFrom == nil && session.upgradeState == .merge) {
                steps.append(Step(name: "Restart from the Production Side", state: .abort) { s in try self.restartFromProduction(&s) })
            }
            steps += [
                Step(name: "Start RDR resynchronization (Production → Upgrade)", state: .abort) { _ in try self.startResyncs { _, primary in primary } },
                Step(name: "Resynchronize in the background", state: .abort) { _ in try self.background() },
                Step(name: "Restore the Upgrade Side", state: .abort) { s in
                    try self.services(s, all: true) { m, name in if let svc = m.service(name) { m.update(name, .upgrade) { $0 = svc.production } } }
                },
            ]
            return steps
        case .finish:
            return [Step(name: "Clean up the upgrade session", state: session.upgradeState) { s in
                try? FileManager.default.removeItem(atPath: self.store.stagingPath)
                s.savedStartupTypes = [:]
                s.abortedFrom = nil
                let resyncing = self.system.manifest.disks.filter { (try? self.system.disk($0.name, access: .readOnly).record.mode) == .resyncing }.map(\.name)
                if !resyncing.isEmpty {
                    self.log.add(.information, "RDR disks continue to resynchronize in the background: \(resyncing.joined(separator: ", "))", detail: "wait for 'Status: None' in 'rdr status' before the next upgrade", parent: self.currentParent)
                }
            }]
        case .retry:
            return []
        }
    }

    // MARK: Step bodies

    private func stageConfiguration(_ s: inout Session) throws(RDRError) {
        guard let path = s.configurationPath else {
            log.add(.information, "No configuration file: disk roles from the manifest, no services or custom actions", parent: currentParent)
            return
        }
        if path.hasPrefix(store.stagingPath) { return }  // already staged (retry)
        let c = try Configuration.load(path, baseDirectory: s.configurationDirectory)
        do {
            try FileManager.default.createDirectory(atPath: store.stagingPath, withIntermediateDirectories: true)
            for f in c.files {
                let dest = store.stagingPath + "/" + (f as NSString).lastPathComponent
                try? FileManager.default.removeItem(atPath: dest)
                try FileManager.default.copyItem(atPath: f, toPath: dest)
            }
        } catch {
            throw RDRError(.io, "cannot copy the configuration to the staging area \(store.stagingPath): \(error.localizedDescription)")
        }
        s.configurationPath = store.stagingPath + "/" + (path as NSString).lastPathComponent
        log.add(.information, "Configuration \(s.configurationName ?? "") copied to the staging area", detail: c.files.joined(separator: "\n"), parent: currentParent)
    }

    private func readiness(_ s: Session, request: ActionRequest) throws(RDRError) {
        let model = try SystemModel.load(system)
        let c = try config(s)
        let findings = Readiness(system: system, model: model, config: c, log: log).findings()
        for f in findings { log.add(f.severity, f.message, detail: f.detail, parent: currentParent) }
        try actions(.ReadinessCheck, s, request == .prepareSplit ? .checkReadiness : request, sides: ["Production"])
        let errors = findings.filter { $0.severity == .error }
        if !errors.isEmpty {
            throw RDRError(.invalidState, "readiness check failed: " + errors.map { $0.message + ($0.detail.map { " (\($0))" } ?? "") }.joined(separator: "; "))
        }
    }

    private func mergeReadiness(_ s: Session) throws(RDRError) {
        for d in system.manifest.disks {
            let mode = try system.disk(d.name, access: .readOnly).record.mode
            guard mode == .split || mode == .merged else {
                log.add(.error, "RDR disk \(d.name) is \(mode), not split", parent: currentParent)
                throw RDRError(.invalidState, "disk '\(d.name)' is \(mode), not split; abort the upgrade")
            }
        }
        for a in try config(s)?.customActions ?? [] where !FileManager.default.isExecutableFile(atPath: a.file) {
            log.add(.error, "The executable filename does not exist.", detail: a.file, parent: currentParent)
            throw RDRError(.invalidState, "custom action \(a.file) does not exist")
        }
        log.add(.success, "The system is ready to merge", parent: currentParent)
    }

    /// Runs the configuration's actions of `type` one at a time, on each side that exists now.
    private func actions(_ type: Configuration.ControlType, _ s: Session, _ request: ActionRequest, sides: [String]? = nil) throws(RDRError) {
        let list = try config(s)?.actions(type) ?? []
        guard !list.isEmpty else { return }
        let group = log.add(.pending, "Execute custom actions", detail: "\(type.rawValue), request \(request.rawValue)", parent: currentParent)
        let onSides = sides ?? (s.hardwareSplit ? ["Production", "Upgrade"] : ["Production"])
        for side in onSides {
            for a in list {
                let env = CustomActionRunner.Environment(side: side, state: s.upgradeState, request: request, hardwareSplit: s.hardwareSplit)
                let entry = log.add(.pending, "\(a.controlType.rawValue) \((a.file as NSString).lastPathComponent) on the \(side) Side", parent: group)
                let outcome = CustomActionRunner.run(a, env)
                if outcome.succeeded {
                    log.update(entry, .success, detail: outcome.detail)
                } else {
                    log.update(entry, .error, detail: outcome.message + "\n" + outcome.detail)
                    log.update(group, .error)
                    throw RDRError(.invalidState, "\(outcome.message) (\(a.file))")
                }
            }
        }
        log.update(group, .success)
    }

    private func services(_ s: Session, all: Bool = false, _ change: (inout SystemModel, String) -> Void) throws(RDRError) {
        var model = try SystemModel.load(system)
        let names = all ? model.services.map(\.name) : (try config(s)?.services.map(\.name) ?? [])
        for name in names where model.service(name) != nil { change(&model, name) }
        try model.save(system)
    }

    private func disableUpgradeServices(_ s: inout Session) throws(RDRError) {
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

    private func restoreUpgradeServices(_ s: Session) throws(RDRError) {
        var model = try SystemModel.load(system)
        for name in try config(s)?.services.map(\.name) ?? [] {
            let type = s.savedStartupTypes[name].flatMap(SystemModel.StartupType.init(rawValue:)) ?? .Automatic
            model.update(name, .upgrade) { $0.startupType = type; $0.running = true }
            log.add(.information, "Service \(name): startup type \(type.rawValue) restored and started on the Upgrade Side", parent: currentParent)
        }
        try model.save(system)
    }

    private func backupLogs(_ s: Session) throws(RDRError) {
        guard let b = try config(s)?.logBackup else { return }
        do { try FileManager.default.createDirectory(atPath: b.stagingDirectory, withIntermediateDirectories: true) } catch {
            throw RDRError(.io, "cannot create the log backup directory \(b.stagingDirectory): \(error.localizedDescription)")
        }
        for l in b.logs {
            let dest = b.stagingDirectory + "/" + (l as NSString).lastPathComponent
            try? FileManager.default.removeItem(atPath: dest)
            do {
                try FileManager.default.copyItem(atPath: l, toPath: dest)
                log.add(.success, "Backed up \(l)", detail: "to \(dest)", parent: currentParent)
            } catch {
                log.add(.warning, "Event log \(l) could not be backed up", detail: error.localizedDescription, parent: currentParent)
            }
        }
    }

    private func restartFromProduction(_ s: inout Session) throws(RDRError) {
        for state in [PartnerState.osShuttingDown, .dcOff] {
            s.partnerState = state
            try store.save(&s)
            log.add(.information, "Upgrade Side: \(state.rawValue)", parent: currentParent)
        }
        var model = try SystemModel.load(system)
        for svc in model.services { model.update(svc.name, .production) { $0.running = $0.startupType == .Automatic } }
        try model.save(system)
        log.add(.information, "Restarted from the Production Side: applications restart from the original system disks", parent: currentParent)
        for state in [PartnerState.osBooting, .osUp] {
            s.partnerState = state
            try store.save(&s)
            log.add(.information, "Upgrade Side: \(state.rawValue)", parent: currentParent)
        }
    }

    /// Runs `body` on every virtual disk under the system lock (engine transitions).
    private func mirrors(_ body: (VirtualDisk) throws -> Void) throws(RDRError) {
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
    private func startResyncs(_ source: @escaping (VirtualDisk, Enclosure) -> Enclosure) throws(RDRError) {
        try mirrors { d in
            let r = d.record
            if r.mode == .resyncing { return }
            let from = source(d, r.primary)
            if try d.startResync(from: from) {
                self.log.add(.information, "RDR disk \(d.name): resync from member \(from) to \(from.other) started", parent: self.currentParent)
            }
        }
    }

    private func background() throws(RDRError) {
        do { try startBackgroundResync(system) } catch let e as RDRError { throw e } catch { throw RDRError(.io, "\(error)") }
    }

    // MARK: Restart

    /// `rdr restart upgrade`: the Upgrade Side reboots (services follow their startup types).
    public func restart(_ side: Side) throws(RDRError) -> Session {
        let lock = try store.lock(command: command)
        defer { lock.release() }
        var s = try store.current()
        guard side == .upgrade else {
            throw RDRError(.invalidState, "the Production Side runs your applications\(s.hardwareSplit ? " while split" : ""); restarting it is refused (restart the Upgrade Side with 'rdr restart upgrade')")
        }
        guard s.hardwareSplit, s.operationalState == .ready else {
            throw RDRError(.invalidState, "the Upgrade Side can be restarted only while split (state \(s.upgradeState.rawValue), \(s.operationalState.rawValue))")
        }
        let entry = log.add(.pending, "Restart the Upgrade Side")
        for state in [PartnerState.osRebooting, .osBooting, .osUp] {
            s.partnerState = state
            try store.save(&s)
            log.add(.information, "Upgrade Side: \(state.rawValue)", parent: entry)
            if state == .osBooting {
                var model = try SystemModel.load(system)
                for svc in model.services { model.update(svc.name, .upgrade) { $0.running = $0.startupType == .Automatic } }
                try model.save(system)
            }
        }
        log.update(entry, .success)
        return s
    }
}
