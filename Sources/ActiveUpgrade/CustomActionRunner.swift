import FoundationEssentials
import Glibc
import RDR

/// Runs custom actions as real child processes, one at a time, with the guide's environment
/// variables and `%VAR%` expansion in their arguments.
public enum CustomActionRunner {
    public struct Environment: Sendable {
        public var side: Side
        public var state: UpgradeState
        public var request: ActionRequest
        public var hardwareSplit: Bool

        var variables: [String: String] {
            [
                "ACTIVE_UPGRADE_SIDE": side.title, "ACTIVE_UPGRADE_STATE": state.rawValue,
                "ACTIVE_UPGRADE_REQUEST": request.rawValue, "ACTIVE_UPGRADE_HW_SPLIT": hardwareSplit ? "Yes" : "No",
            ]
        }
    }

    /// What the controller supplies besides the action: where output goes, the time limit,
    /// the stop flag, and who to tell about the process group.
    struct Context {
        var systemPath: String
        /// The seam the action's files (its output, its first bytes) go through.
        var sys: any SystemCalls
        var entry: Int
        /// Monotonic time by which the action must end (its own timeout, or less when the
        /// request has a deadline of its own).
        var deadline: Double
        /// The message when `deadline` is the request's rather than the action's own timeout.
        var deadlineMessage: String?
        var cancel: CancellationFlag?
        var signalAtStart: Int32?
        /// The requesting user's variables, which the action inherits (plus the ACTIVE_UPGRADE_* ones).
        var inherited: [String: String] = [:]
        /// The requesting user's directory and umask when they are not this process's.
        var directory: String?
        var fileMask: mode_t?
        var started: (pid_t) -> Void = { _ in }
    }

    public struct Outcome: Sendable {
        public var succeeded: Bool
        /// The guide's message on failure (the same text goes to the error and the log).
        public var message: String
        public var detail: String
        public var interrupted = false
        public var timedOut = false
    }

    /// Replaces `%NAME%` with the variable's value (unknown names stay as written).
    public static func expand(_ argument: String, _ vars: [String: String]) -> String {
        var out = argument
        for (k, v) in vars { out = out.replacing("%\(k)%", with: v) }
        return out
    }

    /// Why `path` cannot run as a custom action, in words, or nil when it can.
    public static func fileProblem(_ path: String, sys: any SystemCalls) -> String? {
        var st = FileStatus()
        guard sys.stat(path: path, followLinks: true, &st) == 0 else {
            return "The executable filename does not exist."
        }
        guard st.isRegular else { return "Custom action file \(path) is not a regular file" }
        guard sys.access(path, X_OK) == 0 else {
            return "Custom action file \(path) is not executable (no execute permission; 'chmod +x' it)"
        }
        let magic: [UInt8]
        do {
            let fd = try FileDescriptor.openRaw(path, flags: O_RDONLY | O_CLOEXEC, mode: 0, sys: sys)
            defer { fd.close() }
            magic = try fd.readBytes(count: 4, at: 0)
        } catch {
            return "Custom action file \(path) cannot be read (\(String(cString: strerror(error.code))))"
        }
        let n = magic.count
        if n >= 2 && magic[0] == UInt8(ascii: "#") && magic[1] == UInt8(ascii: "!") { return nil }
        if n == 4 && magic == [0x7F, 0x45, 0x4C, 0x46] { return nil }
        return
            "Custom action file \(path) has no '#!' interpreter line and is not a program the system can run; start it with a line such as '#!/bin/sh'"
    }

    static func run(_ action: Configuration.CustomAction, _ env: Environment, _ context: Context) -> Outcome {
        let vars = env.variables
        let args = action.arguments.map { expand($0, vars) }
        var detail = "command: " + ([action.file] + args).joined(separator: " ")
        if let problem = fileProblem(action.file, sys: context.sys) {
            return Outcome(succeeded: false, message: problem, detail: detail + "\nfile: \(action.file)")
        }
        guard
            let output = ActionOutput.open(
                systemPath: context.systemPath, entry: context.entry, file: action.file, sys: context.sys)
        else {
            return Outcome(
                succeeded: false,
                message:
                    "Custom action output cannot be written under \(context.systemPath)/\(ActionOutput.directoryName)",
                detail: detail)
        }
        var environment = context.inherited
        for (k, v) in vars { environment[k] = v }
        let end = ActionProcess.run(
            ActionProcess.Launch(
                file: action.file, arguments: args, environment: environment, stdout: output.stdout,
                stderr: output.stderr,
                deadline: context.deadline, cancel: context.cancel, signalAtStart: context.signalAtStart,
                directory: context.directory, fileMask: context.fileMask, started: context.started))
        let streams = output.finish()
        var (message, summary) = describe(end, action)
        if end == .timedOut, let m = context.deadlineMessage {
            (message, summary) = (m, m + "; its process group was stopped")
        }
        detail += "\n" + summary + (streams.isEmpty ? "" : "\n" + streams)
        return Outcome(
            succeeded: end == .exited(0), message: message, detail: detail, interrupted: end == .interrupted,
            timedOut: end == .timedOut)
    }

    /// The one message a way of ending gets, in the error and in the log alike.
    private static func describe(_ end: ActionProcess.End, _ action: Configuration.CustomAction) -> (String, String) {
        switch end {
        case .exited(0): return ("Custom action succeeded", "exit value: 0")
        case .exited(let code): return ("Custom action failed with exit value \(code)", "exit value: \(code)")
        case .signaled(let sig):
            let text = "Custom action was killed by signal \(sig) (\(SignalName.name(sig)))"
            return (text, text)
        case .timedOut:
            let text = "Custom action timed out after \(Seconds.text(action.timeoutSeconds))"
            return (text, text + "; its process group was stopped (SIGTERM, then SIGKILL)")
        case .interrupted:
            return (
                "Custom action was stopped: the request was interrupted",
                "stopped with its process group (SIGTERM, then SIGKILL)"
            )
        case .notStarted(let code):
            let text = "Custom action could not be started (\(String(cString: strerror(code))))"
            return (text, text)
        }
    }
}

/// Seconds as a message says them: "1 second", "0.5 seconds", "300 seconds".
enum Seconds {
    static func text(_ s: Double) -> String {
        let n = s == s.rounded() && abs(s) < 1e15 ? String(Int64(s)) : String(s)
        return n + (s == 1 ? " second" : " seconds")
    }
}
