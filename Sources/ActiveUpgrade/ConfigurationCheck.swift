import FoundationEssentials
import Glibc
import RDR

/// One result of a check, with the guide's severities: Success, Warning or Error.
public struct Finding: Sendable, Equatable {
    public var severity: Severity
    public var message: String
    public var detail: String?

    /// The message with its detail, as one line of an error.
    public var text: String { message + (detail.map { " (\($0))" } ?? "") }

    public init(_ severity: Severity, _ message: String, _ detail: String? = nil) {
        self.severity = severity
        self.message = message
        self.detail = detail
    }
}

extension Configuration {
    /// A configuration that would make a step write into the system directory is refused
    /// outright (65) wherever it is given: `config check`, `check`, `split`.
    public func refusal(systemPath: String) -> RDRError? {
        guard let dir = logBackup?.stagingDirectory,
            let problem = LogBackupWriter.insideProblem(dir, systemPath: systemPath)
        else { return nil }
        return RDRError(.corrupt, "configuration \(path): \(problem)")
    }

    /// `rdr config check`: refused when it would write into the system at `systemPath` or when
    /// an action cannot run; otherwise its warnings.
    public func check(systemPath: String?) throws(RDRError) -> [Finding] {
        if let systemPath, let refusal = refusal(systemPath: systemPath) { throw refusal }
        let found = findings()
        let errors = found.filter { $0.severity == .error }
        guard errors.isEmpty else {
            throw RDRError(.corrupt, "configuration \(path): " + errors.map(\.text).joined(separator: "; "))
        }
        return found.filter { $0.severity == .warning }
    }

    /// What this configuration needs from this machine: each custom action's file ready to run
    /// (Table 5-2) and the log backup directory (3-10: a missing one is only a Warning).
    public func findings(sys: any SystemCalls = LinuxSystemCalls()) -> [Finding] {
        var out: [Finding] = []
        var seen = Set<String>()
        for a in customActions where seen.insert(a.file).inserted {
            if let problem = CustomActionRunner.fileProblem(a.file, sys: sys) {
                out.append(Finding(.error, problem, "\(a.controlType.rawValue) action \(a.file)"))
            } else {
                out.append(Finding(.success, "Custom action \(PathName.lastComponent(a.file)) is ready to run", a.file))
            }
        }
        if let b = logBackup {
            if let dir = b.stagingDirectory {
                if Directory.isDirectory(dir, sys: sys) {
                    out.append(Finding(.success, "Log backup directory \(dir) is present"))
                } else {
                    out.append(
                        Finding(.warning, "Log backup directory \(dir) does not exist", "it is created at merge"))
                }
            } else {
                out.append(
                    Finding(
                        .warning, "No log backup directory is given: event logs are not backed up",
                        "set logBackup.stagingDirectory in \(path)"))
            }
        }
        return out
    }
}
