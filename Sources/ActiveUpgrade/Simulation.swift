import FoundationEssentials
import Glibc
import RDR

/// Rehearsing what the guide says happens to a split system: the Upgrade Side crashing,
/// hanging, shut down or losing power (partner states of Table 4-6, and their consequence), the
/// Production Side failing, a split that takes too long, an action killed by a signal. Also the
/// Upgrade Side's restart, which is how a hung side is reset.
extension UpgradeController {
    /// Runs `body` under the session lock with the runner on record, after completing any
    /// interrupted request.
    private func locked(_ what: String, _ options: RequestOptions, _ body: (inout Session) throws(RDRError) -> Void)
        throws(RDRError) -> Session
    {
        let lock = try store.lock(command: command)
        defer { lock.release() }
        runner.begin(what)
        defer { runner.end() }
        var s = try recoverIfInterrupted(try store.load(), asked: nil, options: options).0
        try body(&s)
        return s
    }

    /// `rdr restart upgrade`: the Upgrade Side reboots (a hung one is reset by the system
    /// controller); services follow their startup types. The Production Side is never restarted.
    public func restart(_ side: Side, options: RequestOptions = RequestOptions()) throws(RDRError) -> Session {
        try locked("restart \(side)", options) { (s) throws(RDRError) in
            guard side == .upgrade else {
                throw RDRError(
                    .invalidState,
                    "the Production Side runs your applications\(s.hardwareSplit ? " while split" : ""); restarting it is refused (restart the Upgrade Side with 'rdr restart upgrade')"
                )
            }
            guard s.allowedRequests.contains(.restartUpgrade) else {
                throw RDRError(
                    .invalidState,
                    "the Upgrade Side can be restarted only while split and up or hung (state \(s.upgradeState.rawValue), \(s.operationalState.rawValue), Partner: \(s.partnerState.rawValue)); allowed now: \(s.allowedRequests.map(\.rawValue).joined(separator: ", "))"
                )
            }
            let entry = log.add(.pending, "Restart the Upgrade Side")
            let hung = s.partnerState.isStuck
            try partner(hung ? [.reset, .biosPost] : [.osRebooting, .biosPost], &s, parent: entry)
            try bootServices(.upgrade)
            try partner([.osBooting, .osUp], &s, parent: entry)
            log.update(entry, .success, detail: hung ? "the hung Upgrade Side was reset" : nil)
        }
    }

    public func simulate(
        _ event: SimulatedEvent, side: Side = .upgrade, during: HangPoint = .up, signal: Int32 = SIGKILL,
        options: RequestOptions = RequestOptions()
    ) throws(RDRError) -> Session {
        var abortNow = false
        var s = try locked("simulate \(event.rawValue)", options) { (s) throws(RDRError) in
            if event.isHardware {
                abortNow = try hardwareEvent(event, side: side, during: during, &s)
            } else {
                try arm(event, signal: signal, &s)
            }
        }
        if abortNow {
            // The guide's consequence: the upgrade must be aborted; the rehearsal does it now.
            s = try perform(.abort, options: options)
        }
        return s
    }

    private func arm(_ event: SimulatedEvent, signal: Int32, _ s: inout Session) throws(RDRError) {
        if event == .splitTimeout && !(s.upgradeState == .idle && s.operationalState != .busy) {
            throw RDRError(
                .invalidState, "split-timeout is armed before a split (state Idle), not in \(s.upgradeState.rawValue)")
        }
        s.pendingEvents.removeAll { $0.event == event }
        s.pendingEvents.append(Session.PendingEvent(event: event, signal: event == .actionSignal ? signal : nil))
        try store.save(&s)
        let what =
            event == .splitTimeout
            ? "the next split stalls: an application on the Upgrade Side does not stop, and the split times out"
            : "the next custom action to start is killed by \(SignalName.name(signal))"
        log.add(.warning, "Simulated: \(event.rawValue) armed", detail: what)
    }

    /// Returns true when the consequence is an abort.
    private func hardwareEvent(_ event: SimulatedEvent, side: Side, during: HangPoint, _ s: inout Session)
        throws(RDRError) -> Bool
    {
        guard s.hardwareSplit, [.prepareSplit, .split, .prepareMerge].contains(s.upgradeState),
            s.operationalState != .busy
        else {
            throw RDRError(
                .invalidState,
                "'simulate \(event.rawValue)' happens while the system is split (a disk in split mode); now: \(s.statusBar)"
            )
        }
        guard side == .production || s.partnerState == .osUp else {
            throw RDRError(
                .invalidState,
                "the Upgrade Side is not up (Partner: \(s.partnerState.rawValue)); restart or abort first")
        }
        let entry = log.add(.warning, "Simulated: \(event.rawValue) of the \(side.title) Side")
        let (states, consequence, aborts) = effect(event, side: side, during: during)
        try partner(states, &s, parent: entry)
        if event == .crash && side == .upgrade {
            s.crashDumps += 1
            try bootServices(.upgrade)
        }
        if side == .production { try bootServices(.production) }
        log.update(entry, .warning, detail: consequence)
        s.lastEvent = Session.EventRecord(
            event: event, side: side,
            time: UTCTimestamp.string(epochSeconds: Int(system.sys.clock.wallMillis() / 1000)), partnerStates: states,
            consequence: consequence)
        try store.save(&s)
        return aborts
    }

    /// The partner states shown, the consequence in words, and whether the upgrade is aborted.
    private func effect(_ event: SimulatedEvent, side: Side, during: HangPoint) -> ([PartnerState], String, Bool) {
        if side == .production {
            return (
                [.osShuttingDown, .dcOff],
                "the Production Side restarted from its original system disks (its applications were down meanwhile); the upgrade cannot go on and is aborted",
                true
            )
        }
        switch event {
        case .crash:
            return (
                [.nmiIssued, .reset, .biosPost, .osBooting, .osUp],
                "the Upgrade Side saved a dump file and restarted; the upgrade goes on (the dump is copied to the Production Side at abort)",
                false
            )
        case .hang:
            return (
                during.partnerStates,
                "the Upgrade Side is hung: merge waits until 'rdr restart upgrade' resets it; 'rdr abort' rolls back",
                false
            )
        case .shutdown:
            return (
                [.osShuttingDown, .dcOn],
                "the Upgrade Side does not come back online while split: the upgrade is aborted and its changes are lost",
                true
            )
        default:
            return (
                [.dcOff],
                "the Upgrade Side lost power and does not come back while split: the upgrade is aborted and its changes are lost",
                true
            )
        }
    }
}
