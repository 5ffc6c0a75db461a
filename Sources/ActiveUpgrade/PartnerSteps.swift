import RDR

/// Steps that move the Upgrade Side (the partner) through its states.
extension UpgradeController {
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
    func restartFromProduction(_ s: inout Session, _ ctx: StepContext) throws(RDRError) {
        try partner([.osShuttingDown, .dcOff], &s, parent: ctx.parent)
        try bootServices(.production)
        log.add(
            .information, "Restarted from the Production Side: applications restart from the original system disks",
            parent: ctx.parent)
        try partner([.osBooting, .osUp], &s, parent: ctx.parent)
    }

    /// Abort after the Upgrade Side crashed while split: its dump files go to the Production Side.
    func copyCrashDumps(_ s: inout Session, _ ctx: StepContext) {
        guard s.crashDumps > 0 else { return }
        let names = (1...s.crashDumps).map { "Memory\($0).dmp" }.joined(separator: ", ")
        log.add(
            .information, "\(s.crashDumps) dump file(s) of the Upgrade Side's crash copied to the Production Side",
            detail: "\(names) (simulated)", parent: ctx.parent)
        s.crashDumps = 0
    }

    /// The last step of an abort: an Upgrade Side that is down or hung is brought online again.
    func bringUpgradeSideOnline(_ s: inout Session, _ ctx: StepContext) throws(RDRError) {
        guard s.partnerState != .osUp else { return }
        try partner((s.partnerState.isDown ? [] : [.reset]) + [.biosPost, .osBooting, .osUp], &s, parent: ctx.parent)
        try bootServices(.upgrade)
    }
}
