import RDR

/// What a step body receives besides the session: the log entry its own entries nest under and
/// the step's name (for a split that runs out of time in it).
struct StepContext: Sendable {
    let parent: Int
    let step: String
}

extension UpgradeController {
    /// Runs one step body of `RequestTable`.
    func execute(_ body: StepBody, _ s: inout Session, _ ctx: StepContext) throws(RDRError) {
        switch body {
        case .readiness(let request): try readiness(s, request: request, ctx)
        case .mergeReadiness: try mergeReadiness(s, ctx)
        case .actions(let type, let request, let sides): try actions(type, s, request, sides: sides, ctx)
        case .stopUpgradeApplications:
            try simulatedStall(&s, ctx)
            try actions(.StopApplication, s, .stop, sides: [.upgrade], ctx)
        case .stageConfiguration: try stageConfiguration(&s, ctx)
        case .applyDiskSelection: try applyDiskSelection(&s, ctx)
        case .restoreRoles: try restoreRoles(&s, ctx)
        case .cleanUp: cleanUp(&s, ctx)
        case .disableUpgradeServices: try disableUpgradeServices(&s, ctx)
        case .stopProductionServices: try stopProductionServices(s)
        case .restoreUpgradeServices: try restoreUpgradeServices(s, ctx)
        case .bothSidesRunUpgraded: try bothSidesRunUpgraded(s)
        case .restoreUpgradeSide: try restoreUpgradeSide(s)
        case .splitMirrors: try splitMirrors(ctx)
        case .mergeMirrors: try mergeMirrors(ctx)
        case .isolateUpgradeSide: isolateUpgradeSide(ctx)
        case .backupLogs: try backupLogs(s, ctx)
        case .startResyncs(let plan): try startResyncs(plan, ctx)
        case .background: try background()
        case .restartFromProduction: try restartFromProduction(&s, ctx)
        case .copyCrashDumps: copyCrashDumps(&s, ctx)
        case .bringUpgradeSideOnline: try bringUpgradeSideOnline(&s, ctx)
        }
    }
}
