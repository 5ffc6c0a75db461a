import FoundationEssentials
import Glibc
import RDR

/// The steps of each request. A step list depends only on what the session keeps on disk
/// (`abortedFrom`, the state finish started in), so a retry finds the same list and its index.
/// Advanced actions run at every step (Table 3-3): check and finish included.
extension UpgradeController {
    func steps(_ request: UserRequest, _ session: Session) throws(RDRError) -> [Step] {
        switch request {
        case .check:
            return [
                Step(name: "Check readiness", state: .idle) { s in try self.readiness(s, request: .checkReadiness) },
                advanced(.idle, .checkReadiness),
            ]
        case .split: return splitSteps()
        case .merge: return mergeSteps()
        case .commit:
            return [
                advanced(.commit, .commit),
                Step(name: "Start RDR resynchronization (system disks Upgrade → Production, data disks Production → Upgrade)", state: .commit) { _ in
                    try self.startResyncs { d, primary in d.role.isSystem ? primary.other : primary }
                },
                Step(name: "Resynchronize in the background", state: .commit) { _ in try self.background() },
                Step(name: "Both sides run the upgraded system", state: .commit) { s in
                    try self.services(s) { m, name in if let svc = m.service(name) { m.update(name, .production) { $0 = svc.upgrade } } }
                },
            ]
        case .abort: return abortSteps(session)
        case .finish:
            return [
                advanced(session.upgradeState, .idle),
                Step(name: "Restore the manifest's disk roles", state: session.upgradeState) { s in try self.restoreRoles(&s) },
                Step(name: "Clean up the upgrade session", state: session.upgradeState) { s in self.cleanUp(&s) },
            ]
        case .retry:
            return []
        }
    }

    private func advanced(_ state: UpgradeState, _ request: ActionRequest) -> Step {
        Step(name: "Execute custom actions (Advanced)", state: state) { s in try self.actions(.Advanced, s, request) }
    }

    private func splitSteps() -> [Step] {
        [
            Step(name: "Load configuration", state: .prepareSplit) { s in try self.stageConfiguration(&s) },
            Step(name: "Check readiness", state: .prepareSplit) { s in try self.readiness(s, request: .prepareSplit) },
            Step(name: "Apply disk selection", state: .prepareSplit) { s in try self.applyDiskSelection(&s) },
            advanced(.prepareSplit, .prepareSplit),
            Step(name: "Stop applications on the Upgrade Side", state: .split) { s in
                try self.simulatedStall(&s)
                try self.actions(.StopApplication, s, .stop, sides: ["Upgrade"])
            },
            Step(name: "Disable and stop services on the Upgrade Side", state: .split) { s in try self.disableUpgradeServices(&s) },
            Step(name: "Split the RDR mirrors", state: .split) { _ in try self.mirrors { d in if d.record.mode == .duplex { try d.split() } } },
            Step(name: "Isolate the Upgrade Side from data disks", state: .split) { _ in
                let data = self.system.manifest.disks.filter { $0.role == .data }.map(\.name)
                self.log.add(.information, data.isEmpty ? "No data disks to isolate" : "The Upgrade Side has no access to \(data.joined(separator: ", "))", parent: self.currentParent)
            },
            advanced(.split, .executeSplit),
        ]
    }

    private func mergeSteps() -> [Step] {
        [
            Step(name: "Check readiness to merge", state: .prepareMerge) { s in try self.mergeReadiness(s) },
            advanced(.prepareMerge, .prepareMerge),
            Step(name: "Stop applications on the Production Side", state: .merge) { s in try self.actions(.StopApplication, s, .stop, sides: ["Production"]) },
            Step(name: "Stop services on the Production Side", state: .merge) { s in try self.services(s) { m, name in m.update(name, .production) { $0.running = false } } },
            Step(name: "Execute custom actions (Backup)", state: .merge) { s in try self.actions(.Backup, s, .backup, sides: ["Production"]) },
            Step(name: "Back up event logs", state: .merge) { s in try self.backupLogs(s) },
            Step(name: "Merge the RDR mirrors", state: .merge) { _ in try self.mirrors { d in if d.record.mode == .split { try d.merge() } } },
            Step(name: "Restore and start services on the Upgrade Side", state: .merge) { s in try self.restoreUpgradeServices(s) },
            Step(name: "Start applications on the Upgrade Side", state: .merge) { s in try self.actions(.StartApplication, s, .start, sides: ["Upgrade"]) },
            advanced(.merge, .executeMerge),
        ]
    }

    private func abortSteps(_ session: Session) -> [Step] {
        var steps = [advanced(.abort, .abort)]
        if session.abortedFrom == .merge || (session.abortedFrom == nil && session.upgradeState == .merge) {
            steps.append(Step(name: "Restart from the Production Side", state: .abort) { s in try self.restartFromProduction(&s) })
        }
        steps += [
            Step(name: "Copy crash dumps from the Upgrade Side", state: .abort) { s in try self.copyCrashDumps(&s) },
            Step(name: "Start RDR resynchronization (Production → Upgrade)", state: .abort) { _ in try self.startResyncs { _, primary in primary } },
            Step(name: "Resynchronize in the background", state: .abort) { _ in try self.background() },
            Step(name: "Bring the Upgrade Side online", state: .abort) { s in try self.bringUpgradeSideOnline(&s) },
            Step(name: "Restore the Upgrade Side", state: .abort) { s in
                try self.services(s, all: true) { m, name in if let svc = m.service(name) { m.update(name, .upgrade) { $0 = svc.production } } }
            },
        ]
        return steps
    }
}
