import FoundationEssentials
import Glibc
import RDR

extension Session {
    /// The policy for this session's interrupted request: `override` (the command line), else
    /// its configuration's `autoRecover`, else abort before Commit and retry from Commit on.
    public func autoRecoverPolicy(
        override: AutoRecoverPolicy? = nil,
        sys: any SystemCalls = LinuxSystemCalls()
    ) -> AutoRecoverPolicy {
        if let override { return override }
        if let p = configurationPath,
            let c = try? Configuration.load(p, baseDirectory: configurationDirectory, sys: sys),
            let policy = c.autoRecover
        {
            return policy
        }
        return .defaultPolicy(for: upgradeState)
    }
}

/// Self-rollback and `abort --force`.
extension UpgradeController {
    /// A request whose process died mid-step (Busy under our lock, or marked interrupted) is
    /// completed by the policy before anything else, and the command says so. `retry` and
    /// `abort` are a person's own choice and override the policy. Returns the session after, and
    /// whether that completion was the very request asked for.
    func recoverIfInterrupted(_ session: Session, asked: UserRequest?, options: RequestOptions) throws(RDRError) -> (
        Session, Bool
    ) {
        var s = session
        guard s.operationalState == .busy || (s.operationalState == .broken && s.interrupted),
            let interrupted = s.request
        else { return (s, false) }
        if s.operationalState == .busy {
            s.markInterrupted()
            try store.save(&s)
            log.add(
                .error, s.failure ?? "", detail: "the process running it stopped (killed, or the machine restarted)")
        }
        if asked == .retry || asked == .abort { return (s, false) }
        let policy = s.autoRecoverPolicy(override: options.autoRecover, sys: system.sys)
        let step = s.failedStep ?? "?"
        guard policy != .none else {
            throw RDRError(
                .invalidState,
                "\(s.failure ?? "a request was interrupted") and autoRecover is none; \(s.nextRequestsHint)")
        }
        let rollBack = policy == .abort && s.upgradeState.canAbort
        var after = s
        do throws(RDRError) {
            if policy == .abort && s.upgradeState == .idle {
                // An interrupted readiness check has nothing to roll back: it simply did not pass.
                after.interrupted = false
                after.failure = "the readiness check was interrupted; run 'rdr check'"
                try store.save(&after)
            } else if rollBack {
                after.abortedFrom = s.upgradeState
                after.failure = nil
                after = try run(.abort, RequestTable.steps(.abort, after), from: 0, session: after)
            } else {
                after = try run(interrupted, RequestTable.steps(interrupted, s), from: s.nextStep, session: s)
            }
        } catch {
            throw RDRError(
                error.kind,
                "automatic recovery (autoRecover: \(policy.rawValue)) of the \(interrupted.title) request interrupted during step '\(step)' failed: \(error.message)"
            )
        }
        let done =
            rollBack
            ? "rolled back"
            : after.upgradeState == .idle && interrupted == .check ? "left for a new check" : "completed"
        notice(
            "Recovered (autoRecover: \(policy.rawValue)): the \(interrupted.title) request interrupted during step '\(step)' was \(done): \(after.statusBar)"
        )
        return (after, asked == interrupted && !rollBack && !(interrupted == .check && policy == .abort))
    }

    /// The session lock for `abort --force`: a running request (an action hung, a step stuck) is
    /// stopped first — SIGTERM to its process (which stops its action's process group itself and
    /// records the request Broken), then SIGKILL to both when it has not let go of the lock
    /// after a grace period. Inside an owner the running request is another forwarded command of
    /// this very process: its cancellation flag stops it the same way, without a signal.
    func lockForcing() throws(RDRError) -> SystemLock {
        if let lock = try? store.lock(command: command) { return lock }
        let s = try store.load()
        guard s.abortable else {
            throw RDRError(
                .invalidState,
                "a \(s.request?.rawValue ?? "request") request is running in state \(s.upgradeState.rawValue): it cannot be aborted (nothing can after Commit); wait for it"
            )
        }
        guard let pid = store.holderPID(), pid != getpid() || RunningRequests.cancel(system.path) else {
            throw RDRError(
                .busy, "the upgrade session is busy and its holder cannot be found; run 'rdr abort --force' again")
        }
        let group = RunnerFile.read(runner.path, sys: system.sys).flatMap { $0.pid == pid ? $0.actionGroup : nil }
        let stops: [(Int32?, Double)] =
            pid == getpid() ? [(nil, ActionProcess.grace + 17)] : [(SIGTERM, ActionProcess.grace + 7), (SIGKILL, 10.0)]
        for (signal, wait) in stops {
            if let signal {
                kill(pid, signal)
                if let group, signal == SIGKILL { kill(-group, signal) }
            }
            if let lock = awaitSessionLock(for: wait) {
                let how = signal.map { SignalName.name($0) } ?? "its cancellation (it ran in this owner)"
                let what = "pid \(pid)\(group.map { ", custom action process group \($0)" } ?? "")"
                notice("Stopped the running \(s.request?.title ?? "") request (\(what)) with \(how)")
                log.add(
                    .warning, "abort --force stopped the running \(s.request?.title ?? "") request",
                    detail: "\(what), \(how)")
                return lock
            }
        }
        throw RDRError(
            .busy, "the running request (pid \(pid)) did not stop; stop it by hand and run 'rdr abort --force' again")
    }

    private func awaitSessionLock(for seconds: Double) -> SystemLock? {
        let end = Monotonic.now() + seconds
        while Monotonic.now() < end {
            if let lock = try? store.lock(command: command) { return lock }
            usleep(50_000)
        }
        return nil
    }
}
