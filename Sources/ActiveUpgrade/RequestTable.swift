import RDR

/// One step of a request: its name in the log, the upgrade state it runs in, and what it does.
struct Step: Sendable, Equatable {
    let name: String
    let state: UpgradeState
    let body: StepBody

    init(_ name: String, _ state: UpgradeState, _ body: StepBody) {
        self.name = name
        self.state = state
        self.body = body
    }
}

/// What a step does; `UpgradeController.execute` runs each body (the bodies live by topic:
/// readiness and actions, staging, services, partner, mirrors).
enum StepBody: Sendable, Equatable {
    case readiness(ActionRequest)
    case mergeReadiness
    /// The configuration's actions of a type; `sides` nil: each side that runs now.
    case actions(Configuration.ControlType, ActionRequest, sides: [Side]?)
    /// Split: a simulated stall first, then StopApplication actions on the Upgrade Side.
    case stopUpgradeApplications
    case stageConfiguration, applyDiskSelection, restoreRoles, cleanUp
    case disableUpgradeServices, stopProductionServices, restoreUpgradeServices
    /// Commit: the Production Side's services take the Upgrade Side's settings.
    case bothSidesRunUpgraded
    /// Abort: every service on the Upgrade Side takes the Production Side's settings back.
    case restoreUpgradeSide
    case splitMirrors, mergeMirrors, isolateUpgradeSide
    case backupLogs
    case startResyncs(ResyncPlan)
    case background
    case restartFromProduction, copyCrashDumps, bringUpgradeSideOnline
}

/// Which member wins when a request starts the resyncs.
enum ResyncPlan: Sendable, Equatable {
    /// System disks Upgrade → Production, data disks Production → Upgrade.
    case commit
    /// Every disk Production → Upgrade.
    case fromProduction
}

/// The steps of each request, as data. A list depends only on what the session keeps on disk
/// (`abortedFrom`, the state finish started in), so a retry finds the same list and its index.
/// Advanced actions run at every step (Table 3-3): check and finish included.
enum RequestTable {
    static func steps(_ request: UserRequest, _ session: Session) -> [Step] {
        switch request {
        case .check:
            return [Step("Check readiness", .idle, .readiness(.checkReadiness)), advanced(.idle, .checkReadiness)]
        case .split: return split
        case .merge: return merge
        case .commit: return commit
        case .abort: return abort(session)
        case .finish: return finish(session.upgradeState)
        case .retry: return []
        }
    }

    static func advanced(_ state: UpgradeState, _ request: ActionRequest) -> Step {
        Step("Execute custom actions (Advanced)", state, .actions(.Advanced, request, sides: nil))
    }

    static let split = [
        Step("Load configuration", .prepareSplit, .stageConfiguration),
        Step("Check readiness", .prepareSplit, .readiness(.prepareSplit)),
        Step("Apply disk selection", .prepareSplit, .applyDiskSelection),
        advanced(.prepareSplit, .prepareSplit),
        Step("Stop applications on the Upgrade Side", .split, .stopUpgradeApplications),
        Step("Disable and stop services on the Upgrade Side", .split, .disableUpgradeServices),
        Step("Split the RDR mirrors", .split, .splitMirrors),
        Step("Isolate the Upgrade Side from data disks", .split, .isolateUpgradeSide),
        advanced(.split, .executeSplit),
    ]

    static let merge = [
        Step("Check readiness to merge", .prepareMerge, .mergeReadiness),
        advanced(.prepareMerge, .prepareMerge),
        Step(
            "Stop applications on the Production Side", .merge, .actions(.StopApplication, .stop, sides: [.production])),
        Step("Stop services on the Production Side", .merge, .stopProductionServices),
        Step("Execute custom actions (Backup)", .merge, .actions(.Backup, .backup, sides: [.production])),
        Step("Back up event logs", .merge, .backupLogs),
        Step("Merge the RDR mirrors", .merge, .mergeMirrors),
        Step("Restore and start services on the Upgrade Side", .merge, .restoreUpgradeServices),
        Step("Start applications on the Upgrade Side", .merge, .actions(.StartApplication, .start, sides: [.upgrade])),
        advanced(.merge, .executeMerge),
    ]

    static let commit = [
        advanced(.commit, .commit),
        Step(
            "Start RDR resynchronization (system disks Upgrade → Production, data disks Production → Upgrade)", .commit,
            .startResyncs(.commit)),
        Step("Resynchronize in the background", .commit, .background),
        Step("Both sides run the upgraded system", .commit, .bothSidesRunUpgraded),
    ]

    static func abort(_ session: Session) -> [Step] {
        var steps = [advanced(.abort, .abort)]
        if session.abortedFrom == .merge || (session.abortedFrom == nil && session.upgradeState == .merge) {
            steps.append(Step("Restart from the Production Side", .abort, .restartFromProduction))
        }
        return steps + [
            Step("Copy crash dumps from the Upgrade Side", .abort, .copyCrashDumps),
            Step("Start RDR resynchronization (Production → Upgrade)", .abort, .startResyncs(.fromProduction)),
            Step("Resynchronize in the background", .abort, .background),
            Step("Bring the Upgrade Side online", .abort, .bringUpgradeSideOnline),
            Step("Restore the Upgrade Side", .abort, .restoreUpgradeSide),
        ]
    }

    static func finish(_ state: UpgradeState) -> [Step] {
        [
            advanced(state, .idle),
            Step("Restore the manifest's disk roles", state, .restoreRoles),
            Step("Clean up the upgrade session", state, .cleanUp),
        ]
    }
}
