import FoundationEssentials
import Glibc
import RDR

/// Custom actions and readiness inside a request.
extension UpgradeController {
    /// The readiness check: each finding logged, ReadinessCheck actions run; any Error fails it.
    func readiness(_ s: Session, request: ActionRequest, _ ctx: StepContext) throws(RDRError) {
        let model = try SystemModel.load(system)
        let c = try config(s)
        let findings = Readiness(system: system, model: model, config: c).findings()
        for f in findings { log.add(f.severity, f.message, detail: f.detail, parent: ctx.parent) }
        let errors = findings.filter { $0.severity == .error }
        if !errors.isEmpty {
            throw RDRError(.invalidState, "readiness check failed: " + errors.map(\.text).joined(separator: "; "))
        }
        try actions(.ReadinessCheck, s, request == .prepareSplit ? .checkReadiness : request, sides: [.production], ctx)
    }

    func mergeReadiness(_ s: Session, _ ctx: StepContext) throws(RDRError) {
        for d in system.manifest.disks {
            let mode = try system.disk(d.name, access: .readOnly).record.mode
            guard mode == .split || mode == .merged else {
                log.add(.error, "RDR disk \(d.name) is \(mode), not split", parent: ctx.parent)
                throw RDRError(.invalidState, "disk '\(d.name)' is \(mode), not split; abort the upgrade")
            }
        }
        for f in try config(s)?.findings(sys: system.sys) ?? [] where f.severity == .error {
            log.add(.error, f.message, detail: f.detail, parent: ctx.parent)
            throw RDRError(.invalidState, f.text)
        }
        log.add(.success, "The system is ready to merge", parent: ctx.parent)
    }

    /// Runs the configuration's actions of `type` one at a time, on each side that runs now:
    /// both while any disk is split (`sides` nil), an Upgrade Side that is down or hung skipped.
    func actions(
        _ type: Configuration.ControlType, _ s: Session, _ request: ActionRequest, sides: [Side]?,
        _ ctx: StepContext
    ) throws(RDRError) {
        let list = try actionConfig(s, ctx)?.actions(type) ?? []
        guard !list.isEmpty else { return }
        let split = HardwareProbe.state(system).map { $0 == .productionSide } ?? s.hardwareSplit
        let group = log.add(
            .pending, "Execute custom actions", detail: "\(type.rawValue), request \(request.rawValue)",
            parent: ctx.parent)
        var skipped = 0
        for side in sides ?? (split ? [.production, .upgrade] : [.production]) {
            if side == .upgrade && s.partnerState != .osUp {
                log.add(.warning, "Not run on the Upgrade Side: Partner: \(s.partnerState.rawValue)", parent: group)
                continue
            }
            for a in list {
                let env = CustomActionRunner.Environment(
                    side: side, state: s.upgradeState, request: request, hardwareSplit: split)
                do throws(RDRError) { try runAction(a, env, group: group, ctx) } catch {
                    guard s.skipFailingActions && error.kind != .interrupted else {
                        log.update(group, .error)
                        throw error
                    }
                    skipped += 1
                }
            }
        }
        log.update(
            group, skipped > 0 ? .warning : .success,
            detail: skipped > 0 ? "\(skipped) failing custom action(s) skipped (--force)" : nil)
    }

    /// One action: its process group on record for `abort --force`, its output to files, the
    /// request's deadline and stop flag applied.
    private func runAction(
        _ a: Configuration.CustomAction, _ env: CustomActionRunner.Environment, group: Int,
        _ ctx: StepContext
    ) throws(RDRError) {
        let entry = log.add(
            .pending, "\(a.controlType.rawValue) \(PathName.lastComponent(a.file)) on the \(env.side.title) Side",
            parent: group)
        var context = CustomActionRunner.Context(
            systemPath: system.path, sys: system.sys, entry: entry, deadline: Monotonic.now() + a.timeoutSeconds)
        if let d = splitDeadline, d < context.deadline {
            context.deadline = d
            context.deadlineMessage = splitTimedOut(ctx.step).message
        }
        context.cancel = cancellation
        context.inherited = variables
        context.directory = caller.directory
        context.fileMask = caller.fileMask
        let signal = firedEvents.contains(.actionSignal) ? nil : pendingSignal
        context.signalAtStart = signal
        var started = false
        context.started = { pid in
            started = true
            self.runner.action(pid)
        }
        let outcome = CustomActionRunner.run(a, env, context)
        runner.action(nil)
        if started && signal != nil { firedEvents.insert(.actionSignal) }
        if outcome.succeeded {
            log.update(entry, .success, detail: outcome.detail)
            return
        }
        log.update(entry, .error, detail: outcome.message + "\n" + outcome.detail)
        // A signal to the request may reach the action's group first: still an interruption.
        if outcome.interrupted || cancellation.isCancelled {
            throw RDRError(
                .interrupted,
                "interrupted by a signal while \(PathName.lastComponent(a.file)) ran (its process group was stopped)")
        }
        if outcome.timedOut, context.deadlineMessage != nil { throw splitTimedOut(ctx.step) }
        throw RDRError(.invalidState, "\(outcome.message) (\(a.file))")
    }

    /// `rdr simulate split-timeout`: an application on the Upgrade Side does not stop, so the
    /// split waits until its deadline and breaks (Table 5-3).
    func simulatedStall(_ s: inout Session, _ ctx: StepContext) throws(RDRError) {
        guard s.pendingEvents.contains(where: { $0.event == .splitTimeout }), let deadline = splitDeadline else {
            return
        }
        log.add(
            .warning, "Simulated: an application on the Upgrade Side does not stop",
            detail: "the split waits for it until its time limit", parent: ctx.parent)
        // Consumed durably before the wait: a split killed meanwhile does not stall again on retry.
        s.pendingEvents.removeAll { $0.event == .splitTimeout }
        try store.save(&s)
        while Monotonic.now() < deadline {
            if cancellation.isCancelled {
                throw RDRError(
                    .interrupted, "interrupted by a signal while waiting for the Upgrade Side's applications to stop")
            }
            usleep(20_000)
        }
        throw splitTimedOut(ctx.step)
    }
}

extension UpgradeController {
    /// Merge: the configured event logs are copied out of the system (`LogBackupWriter`).
    func backupLogs(_ s: Session, _ ctx: StepContext) throws(RDRError) {
        guard let b = try config(s)?.logBackup else { return }
        try LogBackupWriter.run(b, systemPath: system.path, sys: system.sys, log: log, parent: ctx.parent)
    }
}
