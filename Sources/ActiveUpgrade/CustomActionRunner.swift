import Foundation
import Synchronization

/// Runs custom actions as real child processes, one at a time, with the guide's environment
/// variables and `%VAR%` expansion in their arguments.
public enum CustomActionRunner {
    public struct Environment: Sendable {
        public var side: String  // Production, Upgrade
        public var state: UpgradeState
        public var request: ActionRequest
        public var hardwareSplit: Bool

        var variables: [String: String] {
            ["ACTIVE_UPGRADE_SIDE": side, "ACTIVE_UPGRADE_STATE": state.rawValue,
             "ACTIVE_UPGRADE_REQUEST": request.rawValue, "ACTIVE_UPGRADE_HW_SPLIT": hardwareSplit ? "Yes" : "No"]
        }
    }

    public struct Outcome: Sendable {
        public var succeeded: Bool
        /// The guide's message on failure.
        public var message: String
        public var detail: String
    }

    /// Replaces `%NAME%` with the variable's value (unknown names stay as written).
    public static func expand(_ argument: String, _ vars: [String: String]) -> String {
        var out = argument
        for (k, v) in vars { out = out.replacingOccurrences(of: "%\(k)%", with: v) }
        return out
    }

    public static func run(_ action: Configuration.CustomAction, _ env: Environment) -> Outcome {
        let vars = env.variables
        let args = action.arguments.map { expand($0, vars) }
        let commandLine = ([action.file] + args).joined(separator: " ")
        guard FileManager.default.isExecutableFile(atPath: action.file) else {
            return Outcome(succeeded: false, message: "The executable filename does not exist.", detail: "file: \(action.file)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: action.file)
        p.arguments = args
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in vars { environment[k] = v }
        p.environment = environment
        p.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch {
            return Outcome(succeeded: false, message: "The executable filename does not exist.", detail: "\(commandLine): \(error.localizedDescription)")
        }
        // Drain both pipes while waiting, so a chatty action never blocks on a full pipe.
        let collected = Mutex<[Data]>([Data(), Data()])
        let group = DispatchGroup()
        for (i, handle) in [out.fileHandleForReading, err.fileHandleForReading].enumerated() {
            group.enter()
            DispatchQueue.global().async {
                let d = handle.readDataToEndOfFile()
                collected.withLock { $0[i] = d }
                group.leave()
            }
        }
        let deadline = Date().addingTimeInterval(action.timeoutSeconds)
        var timedOut = false
        while p.isRunning {
            if Date() > deadline {
                timedOut = true
                kill(p.processIdentifier, SIGKILL)
                break
            }
            usleep(5_000)
        }
        p.waitUntilExit()
        _ = group.wait(timeout: .now() + 5)
        let (stdout, stderr) = collected.withLock { (String(decoding: $0[0], as: UTF8.self), String(decoding: $0[1], as: UTF8.self)) }
        var detail = "command: \(commandLine)\nexit value: \(p.terminationStatus)"
        if !stdout.isEmpty { detail += "\nstdout:\n" + stdout.trimmingCharacters(in: .newlines) }
        if !stderr.isEmpty { detail += "\nstderr:\n" + stderr.trimmingCharacters(in: .newlines) }
        if timedOut {
            return Outcome(succeeded: false, message: "Custom action timed out after \(String(format: "%g", action.timeoutSeconds)) seconds", detail: detail)
        }
        if p.terminationReason == .uncaughtSignal {
            return Outcome(succeeded: false, message: "Custom action failed with exit value \(128 + p.terminationStatus)", detail: detail)
        }
        if p.terminationStatus != 0 {
            return Outcome(succeeded: false, message: "Custom action failed with exit value \(p.terminationStatus)", detail: detail)
        }
        return Outcome(succeeded: true, message: "Custom action succeeded", detail: detail)
    }
}
