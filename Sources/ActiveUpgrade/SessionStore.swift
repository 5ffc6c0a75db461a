import FoundationEssentials
import Glibc
import RDR

/// Reads and writes `session.json` durably, and holds the session lock (`.session.lock`) that
/// makes one upgrade request run at a time. Status never takes the lock.
public final class SessionStore: Sendable {
    public let system: RDRSystem
    public var path: String { system.path + "/session.json" }
    public var stagingPath: String { system.path + "/session/staging" }
    static let lockName = ".session.lock"
    /// A session is a few KiB; a file far larger is not one.
    static let maxBytes = 1 << 20

    public init(system: RDRSystem) { self.system = system }

    /// The session as stored, with the hardware state taken from the disks. A file that is not
    /// a session, or whose fields contradict each other, is a data error with the way out.
    public func load() throws(RDRError) -> Session {
        let bytes: [UInt8]
        do { bytes = try FileDescriptor.readFile(path, limit: Self.maxBytes, sys: system.sys) } catch {
            if error.code == ENOENT { return withHardware(Session()) }
            if error.code == EFBIG { throw damaged("it is larger than \(Self.maxBytes) bytes") }
            // Never read as "no session": that would hide a running upgrade.
            throw RDRError(
                .io, "the upgrade session cannot be read (\(error)); fix the cause and run the command again")
        }
        let s: Session
        do { s = try JSONDecoder().decode(Session.self, from: Data(bytes)) } catch {
            throw damaged("it is not a session (\(Self.describe(error)))")
        }
        guard (0...64).contains(s.nextStep) else { throw damaged("nextStep \(s.nextStep) is out of range") }
        if let from = s.abortedFrom, !from.canAbort {
            throw damaged("abortedFrom \(from.rawValue) is not a state an abort starts from")
        }
        return withHardware(s)
    }

    private func damaged(_ why: String) -> RDRError {
        RDRError(
            .corrupt,
            "session \(path) is damaged: \(why); restore it, or move it away to start again from Idle ('rdr status' then shows each disk's real mode)"
        )
    }

    private func withHardware(_ s: Session) -> Session {
        var s = s
        s.hardwareState =
            HardwareProbe.state(system)
            ?? ([.split, .prepareMerge].contains(s.upgradeState) ? .productionSide : .faultTolerant)
        return s
    }

    public func save(_ session: inout Session) throws(RDRError) {
        session.sequence += 1
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(session) else { throw RDRError(.io, "session cannot be encoded") }
        do { try Directory.writeAtomically(Array(data), to: path, sys: system.sys) } catch {
            throw RDRError(.io, error.description)
        }
    }

    /// The session with its hardware state read again from the disks (after a request changed them).
    func refreshed(_ s: Session) -> Session { withHardware(s) }

    /// The session as a reader should see it: a Busy session whose process is gone is Broken
    /// and interrupted (the next upgrade command completes it by the auto-recovery policy).
    public func current() throws(RDRError) -> Session {
        var s = try load()
        if s.operationalState == .busy
            && SystemLock.holder(systemPath: system.path, fileName: Self.lockName, sys: system.sys) == nil
        {
            s.markInterrupted()
        }
        return s
    }

    public func lock(command: String) throws(RDRError) -> SystemLock {
        try SystemLock.acquire(systemPath: system.path, fileName: Self.lockName, command: command, sys: system.sys)
    }

    /// A decoding error in words (names the key or value that is wrong).
    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let ctx):
            return "missing key '\((ctx.codingPath + [key]).map(\.stringValue).joined(separator: "."))'"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx),
            DecodingError.dataCorrupted(let ctx):
            let at = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            return at.isEmpty ? "not JSON" : "bad value at '\(at)'"
        default:
            return "\(error)"
        }
    }

    /// The pid of the process holding the session lock, from its own description, or nil.
    func holderPID() -> pid_t? {
        guard let text = SystemLock.holder(systemPath: system.path, fileName: Self.lockName, sys: system.sys),
            text.hasPrefix("pid ")
        else { return nil }
        return text.dropFirst(4).split(separator: " ").first.flatMap { pid_t($0) }
    }
}

extension Session {
    /// A request whose process died mid-step: Broken, interrupted, with what to do.
    mutating func markInterrupted() {
        operationalState = .broken
        interrupted = true
        failure = "\(request?.title ?? "The") request was interrupted during step '\(failedStep ?? "?")'"
    }
}
