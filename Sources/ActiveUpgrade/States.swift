/// The guide's state vocabulary (Tables 3-5, 4-3 to 4-6), spelled as the guide spells it.

public enum UpgradeState: String, Codable, Sendable, CaseIterable {
    case idle = "Idle"
    case prepareSplit = "PrepareSplit"
    case split = "Split"
    case prepareMerge = "PrepareMerge"
    case merge = "Merge"
    case commit = "Commit"
    case abort = "Abort"

    /// States an abort may start from.
    var canAbort: Bool { [.prepareSplit, .split, .prepareMerge, .merge].contains(self) }
}

public enum OperationalState: String, Codable, Sendable {
    case ready = "Ready"
    case busy = "Busy"
    case broken = "Broken"
}

public enum HardwareState: String, Codable, Sendable {
    case faultTolerant = "Fault Tolerant"
    case productionSide = "Production Side"
}

/// Table 4-6.
public enum PartnerState: String, Codable, Sendable, CaseIterable {
    case dcOn = "DC On"
    case dcOff = "DC Off"
    case biosPost = "BIOS POST"
    case hungBiosPost = "Hung: BIOS POST"
    case osBooting = "OS Booting"
    case hungOsBooting = "Hung: OS Booting"
    case osUp = "OS Up"
    case hungOsUp = "Hung: OS Up"
    case osRebooting = "OS Rebooting"
    case hungOsRebooting = "Hung: OS Rebooting"
    case osShuttingDown = "OS Shutting Down"
    case hungOsShuttingDown = "Hung: OS Shutting Down"
    case nmiIssued = "State Sensitive Recovery: NMI issued"
    case reset = "State Sensitive Recovery: Reset"
}

/// A request as `Session.allowedRequests` lists it: a user request, one of its forced forms, or
/// the simulated restart of the Upgrade Side. The raw value is its text everywhere it is shown
/// (status, JSON, refusals, hints).
public enum AllowedRequest: String, Sendable, CustomStringConvertible {
    case check, split, merge, commit, abort, finish, retry
    case abortForce = "abort --force"
    case retryForce = "retry --force"
    case restartUpgrade = "restart upgrade"

    init(_ request: UserRequest) {
        switch request {
        case .check: self = .check
        case .split: self = .split
        case .merge: self = .merge
        case .commit: self = .commit
        case .abort: self = .abort
        case .finish: self = .finish
        case .retry: self = .retry
        }
    }

    public var description: String { rawValue }
}

/// What a user asks for (`rdr check`, `rdr split`, …).
public enum UserRequest: String, Codable, Sendable, CaseIterable {
    case check, split, merge, commit, abort, finish, retry

    public var title: String {
        switch self {
        case .check: return "Readiness check"
        case .split: return "Split"
        case .merge: return "Merge"
        case .commit: return "Commit"
        case .abort: return "Abort"
        case .finish: return "Finish"
        case .retry: return "Retry"
        }
    }
}

/// `ACTIVE_UPGRADE_REQUEST` values (Table 3-5): the task being executed.
public enum ActionRequest: String, Codable, Sendable {
    case idle = "Idle"
    case checkReadiness = "CheckReadiness"
    case prepareSplit = "PrepareSplit"
    case executeSplit = "ExecuteSplit"
    case prepareMerge = "PrepareMerge"
    case executeMerge = "ExecuteMerge"
    case commit = "Commit"
    case abort = "Abort"
    case start = "Start"
    case stop = "Stop"
    case backup = "Backup"
}

/// Activity log severities (Table 4-1), in rising order of concern.
public enum Severity: String, Codable, Sendable, CaseIterable, Comparable {
    case success = "Success"
    case pending = "Pending"
    case information = "Information"
    case warning = "Warning"
    case error = "Error"

    var rank: Int { Self.allCases.firstIndex(of: self) ?? 0 }
    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }

    public init?(text: String) {
        guard let s = Self.allCases.first(where: { $0.rawValue.lowercased() == text.lowercased() }) else { return nil }
        self = s
    }
}

extension PartnerState {
    /// The Upgrade Side is shut down or without power: it will not come back while split.
    public var isDown: Bool { self == .dcOn || self == .dcOff }
    /// Neither down nor up: hung, or stopped in the middle of a reboot, crash or power-up.
    public var isStuck: Bool { self != .osUp && !isDown }
}

/// What the next command does with a request whose process died mid-step (a crash, a
/// restart): `abort` rolls back where an abort is allowed, `retry` completes the request,
/// `none` leaves it Broken for a person. Per configuration (`autoRecover`), overridable with
/// `--auto-recover`; by default abort before Commit and retry from Commit on.
public enum AutoRecoverPolicy: String, Codable, Sendable, CaseIterable {
    case abort, retry, none

    public static func defaultPolicy(for state: UpgradeState) -> AutoRecoverPolicy {
        state == .commit ? .retry : .abort
    }
}

/// The failures `rdr simulate` rehearses.
public enum SimulatedEvent: String, Codable, Sendable, CaseIterable {
    case crash
    case hang
    case shutdown
    case powerLoss = "power-loss"
    case splitTimeout = "split-timeout"
    case actionSignal = "action-signal"

    /// Events that happen to a side of the split hardware (the others are armed for later).
    public var isHardware: Bool { ![.splitTimeout, .actionSignal].contains(self) }
}

/// Where in its life a side hangs (`rdr simulate hang --during …`).
public enum HangPoint: String, Sendable, CaseIterable {
    case up, boot, post, reboot, shutdown

    /// The partner states shown on the way into the hang, the hung state last.
    var partnerStates: [PartnerState] {
        switch self {
        case .up: return [.hungOsUp]
        case .boot: return [.osRebooting, .biosPost, .osBooting, .hungOsBooting]
        case .post: return [.osRebooting, .biosPost, .hungBiosPost]
        case .reboot: return [.osRebooting, .hungOsRebooting]
        case .shutdown: return [.osShuttingDown, .hungOsShuttingDown]
        }
    }
}
