import FoundationEssentials
import Glibc
import RDR

/// What a command line adds to a request.
public struct RequestOptions: Sendable {
    /// `--config FILE` (check, split).
    public var configPath: String?
    /// `--no-config`: forget the configuration remembered from the last session.
    public var noConfig = false
    /// `--auto-recover`: overrides the configuration's policy for an interrupted request.
    public var autoRecover: AutoRecoverPolicy?
    /// `abort --force`: stop a running request, skip failing custom actions; `retry --force`: skip them.
    public var force = false

    public init(
        configPath: String? = nil, noConfig: Bool = false, autoRecover: AutoRecoverPolicy? = nil, force: Bool = false
    ) {
        self.configPath = configPath
        self.noConfig = noConfig
        self.autoRecover = autoRecover
        self.force = force
    }
}

/// Runs upgrade requests. Each request is a list of named steps (`RequestTable`, data; the
/// bodies by topic in `*Steps.swift`, each given a `StepContext`); the session is persisted
/// before a step starts (Busy, its index) and after it ends, so a crash anywhere leaves the
/// interrupted step on disk: the next command completes it by the auto-recovery policy, or
/// `retry` runs the request on from that step (every step is idempotent), or `abort` rolls back.
public final class UpgradeController {
    public internal(set) var system: RDRSystem
    public let store: SessionStore
    public let log: ActivityLog
    let command: String
    /// Starts copying every resync already started, without waiting (the CLI spawns a
    /// detached worker; tests may run them in-process).
    let startBackgroundResync: (RDRSystem) throws -> Void
    /// Set by SIGINT/SIGTERM (or a forwarding client's Ctrl-C): the running action's group is
    /// stopped and the request breaks. The caller's own flag, so nothing has to relay it.
    public let cancellation: CancellationFlag
    /// The requesting user's environment variables: custom actions inherit them and
    /// `RDR_SPLIT_TIMEOUT` is read from them, so a request forwarded to a running owner behaves as
    /// it would have run in the user's own process.
    let variables: [String: String]
    /// The requesting user's directory and umask where they differ from this process's: custom
    /// actions start there and with it.
    public var caller: (directory: String?, fileMask: mode_t?) = (nil, nil)
    /// Things done on the way that the command must say (an interrupted request recovered).
    public private(set) var notices: [String] = []
    let runner: RunnerFile
    /// Test seam: `RDR_AU_CRASH_POINT=k` kills this process at the k-th step boundary. Read from
    /// the process's own environment, never a forwarded client's: a client cannot kill an owner.
    private let crashPoint = ProcessInfo.processInfo.environment["RDR_AU_CRASH_POINT"].flatMap(Int.init)
    private var crashCounter = 0
    /// Monotonic time by which a split must be done (the guide's 5 minutes by default).
    var splitDeadline: Double?
    var splitTimeout = Configuration.defaultSplitTimeout
    /// Simulated events that fired during this request (removed from the session when saved).
    var firedEvents: Set<SimulatedEvent> = []
    /// The signal an armed `action-signal` sends to the next action that starts.
    var pendingSignal: Int32?

    public init(
        system: RDRSystem, command: String, cancellation: CancellationFlag = CancellationFlag(),
        variables: [String: String] = ProcessInfo.processInfo.environment,
        startBackgroundResync: @escaping (RDRSystem) throws -> Void
    ) {
        self.system = system
        self.cancellation = cancellation
        self.variables = variables
        store = SessionStore(system: system)
        log = ActivityLog(systemPath: system.path, sys: system.sys)
        runner = RunnerFile(system: system)
        self.command = command
        self.startBackgroundResync = startBackgroundResync
    }

    private func crashHook() {
        crashCounter += 1
        if let k = crashPoint, crashCounter == k { kill(getpid(), SIGKILL) }
    }

    func notice(_ text: String) { notices.append(text) }

    // MARK: Requests

    /// Runs `request`; `configPath` applies to check and split.
    @discardableResult
    public func perform(_ request: UserRequest, configPath: String? = nil, options: RequestOptions = RequestOptions())
        throws(RDRError) -> Session
    {
        var options = options
        if configPath != nil { options.configPath = configPath }
        let lock = request == .abort && options.force ? try lockForcing() : try store.lock(command: command)
        defer { lock.release() }
        RunningRequests.register(system.path, cancellation)
        defer { RunningRequests.unregister(system.path) }
        runner.begin(request.rawValue)
        defer { runner.end() }
        var s = try store.load()
        let (recovered, satisfied) = try recoverIfInterrupted(s, asked: request, options: options)
        s = recovered
        if satisfied { return s }
        try checkAllowed(request, s, force: options.force)
        if [.check, .split].contains(request) { try selectConfiguration(&s, options) }
        var effective = request
        var start = 0
        if request == .retry || (request == .abort && s.upgradeState == .abort) {
            guard let r = s.request else { throw RDRError(.invalidState, "there is no request to retry") }
            effective = r
            start = s.nextStep
        }
        if effective == .abort && s.abortedFrom == nil { s.abortedFrom = s.upgradeState }
        if [.abort, .retry].contains(request) && options.force { s.skipFailingActions = true }
        if request != .retry { s.failure = nil }
        return try run(effective, RequestTable.steps(effective, s), from: start, session: s)
    }

    func checkAllowed(_ request: UserRequest, _ s: Session, force: Bool) throws(RDRError) {
        let ok: Bool
        switch request {
        case .retry: ok = s.operationalState == .broken
        case .abort where force: ok = s.abortable
        default: ok = s.allowedRequests.contains(AllowedRequest(request))
        }
        guard ok else {
            let list =
                s.allowedRequests.isEmpty
                ? "none (a request is running)" : s.allowedRequests.map(\.rawValue).joined(separator: ", ")
            var why = ""
            if request == .merge && s.upgradeState == .split && s.operationalState == .ready && s.partnerState != .osUp
            {
                why = " (Partner: \(s.partnerState.rawValue): the Upgrade Side must be up to merge)"
            }
            throw RDRError(
                .invalidState,
                "'\(request.rawValue)\(force ? " --force" : "")' is not allowed in state \(s.upgradeState.rawValue) (\(s.operationalState.rawValue))\(why); allowed now: \(list)"
            )
        }
    }

    /// Runs `steps` from `start`, persisting the session around each step.
    func run(_ request: UserRequest, _ steps: [Step], from start: Int, session: Session) throws(RDRError) -> Session {
        var s = session
        s.request = request
        let top = log.add(.pending, "\(request.title) request\(start > 0 ? " (from step \(start + 1))" : "")")
        if request == .split { splitDeadline = Monotonic.now() + splitTimeout(s) }
        pendingSignal = s.pendingEvents.first { $0.event == .actionSignal }.map { $0.signal ?? SIGKILL }
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
                try checkStop(step)
                try execute(step.body, &s, StepContext(parent: entry, step: step.name))
                try checkLog()
            } catch {
                try fail(&s, step, entry: entry, top: top, error)
            }
            consumeFiredEvents(&s)
            log.update(entry, .success)
            crashHook()
            s.nextStep = i + 1
            try store.save(&s)
        }
        s.upgradeState = finalState(request)
        s.operationalState = .ready
        s.failedStep = nil
        s.failure = nil
        s.nextStep = 0
        s.interrupted = false
        s.skipFailingActions = false
        try store.save(&s)
        s = store.refreshed(s)
        log.update(top, .success, detail: s.statusBar)
        noticeLogFailure("the request's end")
        return s
    }

    /// Records the failure (Broken, with what to run next) and throws it on with that hint.
    private func fail(_ s: inout Session, _ step: Step, entry: Int, top: Int, _ error: Error) throws(RDRError) -> Never
    {
        let e = error as? RDRError ?? RDRError(.io, "\(error)")
        consumeFiredEvents(&s)
        s.operationalState = .broken
        s.interrupted = false
        s.failure = e.message
        try store.save(&s)
        log.update(entry, .error, detail: e.message)
        log.update(top, .error, detail: "\(step.name) failed; \(s.nextRequestsHint)")
        noticeLogFailure("this failure")
        throw RDRError(e.kind, "\(e.message); \(s.nextRequestsHint)")
    }

    /// A log append that failed during a step fails the step: the log is the session's record,
    /// so a request never goes on without it (retry once the cause is fixed).
    private func checkLog() throws(RDRError) {
        if let e = log.takeFailure() { throw RDRError(.io, "the activity log cannot be written (\(e))") }
    }

    /// After the session is saved a log failure cannot fail the request any more: it is said.
    private func noticeLogFailure(_ what: String) {
        if let e = log.takeFailure() { notice("The activity log could not record \(what): \(e)") }
    }

    /// Before each step: a signal stops the request; a split past its deadline breaks.
    private func checkStop(_ step: Step) throws(RDRError) {
        if cancellation.isCancelled {
            throw RDRError(.interrupted, "interrupted by a signal before step '\(step.name)'")
        }
        if let d = splitDeadline, Monotonic.now() >= d { throw splitTimedOut(step.name) }
    }

    func splitTimedOut(_ step: String) -> RDRError {
        RDRError(
            .invalidState,
            "The split did not complete within \(Seconds.text(splitTimeout)) (step '\(step)'); after a retry, restart the Upgrade Side ('rdr restart upgrade') before upgrade tasks"
        )
    }

    /// `RDR_SPLIT_TIMEOUT` (seconds, for tests and impatient rehearsals), else the configuration's
    /// `splitTimeoutSeconds`, else 300.
    func splitTimeout(_ s: Session) -> Double {
        if let text = variables["RDR_SPLIT_TIMEOUT"], let t = Double(text), t > 0,
            t <= Configuration.maxSeconds
        {
            splitTimeout = t
        } else {
            splitTimeout = (try? config(s))?.splitTimeoutSeconds ?? Configuration.defaultSplitTimeout
        }
        return splitTimeout
    }

    private func consumeFiredEvents(_ s: inout Session) {
        s.pendingEvents.removeAll { firedEvents.contains($0.event) }
    }

    private func finalState(_ request: UserRequest) -> UpgradeState {
        switch request {
        case .check, .finish, .retry: return .idle
        case .split: return .split
        case .merge: return .merge
        case .commit: return .commit
        case .abort: return .abort
        }
    }
}
