import Foundation
import RDR

/// The persisted state of the upgrade session (`session.json` in the system directory). Written
/// atomically and durably before and after every step of a request, so a crash leaves the last
/// step that started on disk and the next command reports it as Broken.
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
    /// The configuration in use (its staged copy once split), and its file name for the status bar.
    public var configurationPath: String?
    public var configurationName: String?
    /// The directory the configuration came from: relative custom action files resolve here.
    public var configurationDirectory: String?
    /// Startup types saved at split, restored at merge (service name → type).
    public var savedStartupTypes: [String: String] = [:]
    /// State the abort started from (Merge needs the simulated restart).
    public var abortedFrom: UpgradeState?
    /// Bumped on every save, so a test can see each persisted step.
    public var sequence = 0

    public init() {}

    public var hardwareState: HardwareState {
        [.split, .prepareMerge].contains(upgradeState) ? .productionSide : .faultTolerant
    }

    public var hardwareSplit: Bool { hardwareState == .productionSide }

    /// `<config> | <hardware state> | <upgrade state> | <operational state> | Partner: <partner state>`
    public var statusBar: String {
        "\(configurationName ?? "(no configuration)") | \(hardwareState.rawValue) | \(upgradeState.rawValue) | \(operationalState.rawValue) | Partner: \(partnerState.rawValue)"
    }

    /// What may be asked now; anything else is refused with this list.
    public var allowedRequests: [String] {
        switch operationalState {
        case .busy: return []
        case .broken:
            var out = ["retry"]
            if upgradeState.canAbort { out.append("abort") }
            if upgradeState == .idle { out = ["check", "retry", "split"] }
            return out
        case .ready:
            switch upgradeState {
            case .idle: return ["check", "split"]
            case .prepareSplit, .prepareMerge: return ["abort"]
            case .split: return ["merge", "abort", "restart upgrade"]
            case .merge: return ["commit", "abort"]
            case .commit, .abort: return ["finish"]
            }
        }
    }
}

/// Reads and writes `session.json` durably, and holds the session lock (`.session.lock`) that
/// makes one upgrade request run at a time. Status never takes the lock.
public final class SessionStore: Sendable {
    public let system: RDRSystem
    public var path: String { system.path + "/session.json" }
    public var stagingPath: String { system.path + "/session/staging" }
    static let lockName = ".session.lock"

    public init(system: RDRSystem) { self.system = system }

    public func load() throws(RDRError) -> Session {
        guard let data = FileManager.default.contents(atPath: path) else { return Session() }
        do { return try JSONDecoder().decode(Session.self, from: data) } catch {
            throw RDRError(.corrupt, "session \(path) cannot be read (\(error.localizedDescription)); restore it or remove it to start from Idle")
        }
    }

    public func save(_ session: inout Session) throws(RDRError) {
        session.sequence += 1
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(session) else { throw RDRError(.io, "session cannot be encoded") }
        do { try Directory.writeAtomically(Array(data), to: path, sys: system.sys) } catch { throw RDRError(.io, error.description) }
    }

    /// The session as a reader should see it: a Busy session whose process is gone is Broken.
    public func current() throws(RDRError) -> Session {
        var s = try load()
        if s.operationalState == .busy && SystemLock.holder(systemPath: system.path, fileName: Self.lockName, sys: system.sys) == nil {
            s.operationalState = .broken
            s.failure = s.failure ?? "interrupted during \(s.request?.title ?? "a request") (step '\(s.failedStep ?? "?")'); run 'rdr retry' or 'rdr abort'"
        }
        return s
    }

    public func lock(command: String) throws(RDRError) -> SystemLock {
        try SystemLock.acquire(systemPath: system.path, fileName: Self.lockName, command: command, sys: system.sys)
    }
}
