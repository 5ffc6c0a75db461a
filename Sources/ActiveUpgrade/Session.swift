import FoundationEssentials
import Glibc
import RDR

/// The persisted state of the upgrade session (`session.json` in the system directory). Written
/// atomically and durably before and after every step of a request, so a crash leaves the last
/// step that started on disk and the next command finds it interrupted.
public struct Session: Codable, Sendable, Equatable {
    public var upgradeState: UpgradeState = .idle
    public var operationalState: OperationalState = .ready
    public var partnerState: PartnerState = .osUp
    /// The request being run (or last run); `retry` re-runs it from `nextStep`.
    public var request: UserRequest?
    public var nextStep = 0
    /// Name of the step that was running when the request broke or was interrupted.
    public var failedStep: String?
    public var failure: String?
    /// The configuration the steps load (its staged copy once split), and its name for the bar.
    public var configurationPath: String?
    public var configurationName: String?
    /// The directory the configuration came from: relative custom action files resolve here.
    public var configurationDirectory: String?
    /// The user's own file: what the next session uses again after `finish` removes the staged copy.
    public var sourceConfigurationPath: String?
    /// Startup types saved at split, restored at merge (service name → type).
    public var savedStartupTypes: [String: String] = [:]
    /// The manifest's roles before the configuration's disk selection; restored at finish.
    public var savedRoles: [String: DiskRole] = [:]
    /// State the abort started from (Merge needs the simulated restart).
    public var abortedFrom: UpgradeState?
    /// The request's process died mid-step (found Busy with nobody holding the lock): the next
    /// command completes it by the auto-recovery policy.
    public var interrupted = false
    /// `abort --force` or `retry --force` is running: a failing custom action is logged and skipped.
    public var skipFailingActions = false
    /// Simulated failures armed for the next request (`rdr simulate split-timeout|action-signal`).
    public var pendingEvents: [PendingEvent] = []
    /// The last simulated event, shown by `status`.
    public var lastEvent: EventRecord?
    /// Crash dumps the Upgrade Side wrote while split (copied to the Production Side at abort).
    public var crashDumps = 0
    /// Bumped on every save, so a test can see each persisted step.
    public var sequence = 0
    /// From the disks' real modes, refreshed whenever the session is read (never from the file):
    /// `Production Side` while any disk is split.
    public var hardwareState: HardwareState = .faultTolerant

    public struct PendingEvent: Codable, Sendable, Equatable {
        public var event: SimulatedEvent
        public var signal: Int32?
    }

    public struct EventRecord: Codable, Sendable, Equatable {
        public var event: SimulatedEvent
        public var side: Side
        public var time: String
        public var partnerStates: [PartnerState]
        public var consequence: String
    }

    public init() {}

    enum CodingKeys: String, CodingKey {
        case upgradeState, operationalState, partnerState, request, nextStep, failedStep, failure, configurationPath,
            configurationName, configurationDirectory, sourceConfigurationPath, savedStartupTypes, savedRoles,
            abortedFrom,
            interrupted, skipFailingActions, pendingEvents, lastEvent, crashDumps, sequence
    }

    /// Every key is optional, so a session written by an earlier version still reads.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        upgradeState = try c.decodeIfPresent(UpgradeState.self, forKey: .upgradeState) ?? .idle
        operationalState = try c.decodeIfPresent(OperationalState.self, forKey: .operationalState) ?? .ready
        partnerState = try c.decodeIfPresent(PartnerState.self, forKey: .partnerState) ?? .osUp
        request = try c.decodeIfPresent(UserRequest.self, forKey: .request)
        nextStep = try c.decodeIfPresent(Int.self, forKey: .nextStep) ?? 0
        failedStep = try c.decodeIfPresent(String.self, forKey: .failedStep)
        failure = try c.decodeIfPresent(String.self, forKey: .failure)
        configurationPath = try c.decodeIfPresent(String.self, forKey: .configurationPath)
        configurationName = try c.decodeIfPresent(String.self, forKey: .configurationName)
        configurationDirectory = try c.decodeIfPresent(String.self, forKey: .configurationDirectory)
        sourceConfigurationPath = try c.decodeIfPresent(String.self, forKey: .sourceConfigurationPath)
        savedStartupTypes = try c.decodeIfPresent([String: String].self, forKey: .savedStartupTypes) ?? [:]
        savedRoles = try c.decodeIfPresent([String: DiskRole].self, forKey: .savedRoles) ?? [:]
        abortedFrom = try c.decodeIfPresent(UpgradeState.self, forKey: .abortedFrom)
        interrupted = try c.decodeIfPresent(Bool.self, forKey: .interrupted) ?? false
        skipFailingActions = try c.decodeIfPresent(Bool.self, forKey: .skipFailingActions) ?? false
        pendingEvents = try c.decodeIfPresent([PendingEvent].self, forKey: .pendingEvents) ?? []
        lastEvent = try c.decodeIfPresent(EventRecord.self, forKey: .lastEvent)
        crashDumps = try c.decodeIfPresent(Int.self, forKey: .crashDumps) ?? 0
        sequence = try c.decodeIfPresent(Int.self, forKey: .sequence) ?? 0
    }

    public var hardwareSplit: Bool { hardwareState == .productionSide }

    /// `<config> | <hardware state> | <upgrade state> | <operational state> | Partner: <partner state>`
    public var statusBar: String {
        "\(configurationName ?? "(no configuration)") | \(hardwareState.rawValue) | \(upgradeState.rawValue) | \(operationalState.rawValue) | Partner: \(partnerState.rawValue)"
    }

    /// True when an abort (forced or not) can still follow: before Commit, or an abort to finish.
    var abortable: Bool {
        (upgradeState.canAbort || upgradeState == .abort) && request != .commit && request != .finish
    }

    /// What may be asked now; anything else is refused with this list.
    public var allowedRequests: [AllowedRequest] {
        switch operationalState {
        case .busy: return abortable ? [.abortForce] : []
        case .broken:
            switch upgradeState {
            case .idle: return [.check, .retry]
            // Nothing can be rolled back any more: the request can only be completed, if need be
            // with failing custom actions skipped.
            case .commit: return [.retry, .retryForce]
            case .abort: return request == .abort ? [.retry, .abortForce] : [.retry, .retryForce]
            case .prepareSplit, .split, .prepareMerge, .merge: return [.retry, .abort]
            }
        case .ready:
            switch upgradeState {
            case .idle: return [.check, .split]
            case .prepareSplit, .prepareMerge: return [.abort]
            case .split:
                if partnerState.isDown { return [.abort] }
                return partnerState.isStuck ? [.abort, .restartUpgrade] : [.merge, .abort, .restartUpgrade]
            case .merge: return [.commit, .abort]
            case .commit, .abort: return [.finish]
            }
        }
    }

    /// The hint after a failure: the requests that are allowed now, quoted as commands.
    public var nextRequestsHint: String {
        let list = allowedRequests.map { "'rdr \($0)'" }
        return list.isEmpty ? "" : "run " + list.joined(separator: " or ")
    }
}
