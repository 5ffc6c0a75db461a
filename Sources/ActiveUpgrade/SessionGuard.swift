import FoundationEssentials
import Glibc
import RDR

/// Engine commands (`rdr disk …`) on disks the upgrade session owns. Outside Idle the session
/// decided each disk's mode and resync direction; a split, merge, new resync or repair behind its
/// back would silently undo that (a resync during Split overwrote the Upgrade Side's work). They
/// are refused naming the session's state and what to use instead; `--force` overrides, and the
/// override is recorded in the activity log.
public enum SessionGuard {
    public enum Operation: Sendable {
        case split, merge, repair
        /// A resync of the named disks from `from`: resuming one already started that way is fine.
        case resync(from: Enclosure, full: Bool)
        /// `resync --all`: resumes started resyncs in their own direction (the session's own).
        case resumeAll
    }

    public static func check(system: RDRSystem, operation: Operation, disks: [String], force: Bool, commandLine: String)
        throws(RDRError)
    {
        let session = try SessionStore(system: system).current()
        guard session.upgradeState != .idle || session.operationalState == .busy else { return }
        // A disk that cannot be trusted is reported as such (65) before the session's ownership.
        for d in disks { _ = try system.disk(d, access: .readOnly) }
        if try resumes(system, operation, disks) { return }
        let state = "\(session.upgradeState.rawValue) | \(session.operationalState.rawValue)"
        guard force else {
            let names = disks.map { "'\($0)'" }.joined(separator: ", ")
            let allowed =
                session.allowedRequests.isEmpty
                ? "none while a request runs" : session.allowedRequests.map(\.rawValue).joined(separator: ", ")
            throw RDRError(
                .invalidState,
                "disk\(disks.count == 1 ? "" : "s") \(names) belong\(disks.count == 1 ? "s" : "") to the upgrade session (\(state)); use its requests instead (allowed now: \(allowed)), or add --force to override (recorded in the activity log)"
            )
        }
        let log = ActivityLog(systemPath: system.path, sys: system.sys)
        log.add(
            .warning, "\(commandLine) ran outside the upgrade session (\(state))",
            detail:
                "--force overrode the session's ownership of \(disks.joined(separator: ", ")); the next request may find the disks changed"
        )
        // An override that cannot be recorded does not run: the record is what --force promises.
        if let e = log.takeFailure() {
            throw RDRError(.io, "--force cannot be recorded in the activity log (\(e)); nothing was changed")
        }
    }

    private static func resumes(_ system: RDRSystem, _ operation: Operation, _ disks: [String]) throws(RDRError) -> Bool
    {
        switch operation {
        case .resumeAll: return true
        case .resync(let from, let full):
            guard !full else { return false }
            for d in disks {
                let r = try system.disk(d, access: .readOnly).record
                guard r.mode == .resyncing, r.resyncSource == from else { return false }
            }
            return true
        case .split, .merge, .repair: return false
        }
    }
}
