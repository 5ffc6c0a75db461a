import Foundation

/// Runs the real `rdr`. With `kill`, SIGKILLs it after `delay` seconds. Returns the exit status
/// (128 + signal when killed by one) and stdout.
struct RDRRunner {
    let binary: String
    let system: String
    /// Every command's stderr, appended (printed when the run fails).
    var stderrLog: String { system + "-stderr.log" }
    /// A split stalled by an armed `simulate split-timeout` breaks after this many seconds,
    /// whichever command reaches it (split, retry, an automatic recovery).
    static let splitTimeout = "2"

    func start(_ args: [String], env: [String: String] = [:]) -> (Process, Pipe)? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args + ["--system", system]
        var environment = ProcessInfo.processInfo.environment
        environment["RDR_SPLIT_TIMEOUT"] = Self.splitTimeout
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let out = Pipe()
        p.standardOutput = out
        if !FileManager.default.fileExists(atPath: stderrLog) {
            _ = FileManager.default.createFile(atPath: stderrLog, contents: nil)
        }
        let err = FileHandle(forWritingAtPath: stderrLog)
        err?.seekToEndOfFile()
        err?.write(Data("$ rdr \(args.joined(separator: " "))\n".utf8))
        p.standardError = err ?? FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        return (p, out)
    }

    func finish(_ p: Process, _ out: Pipe) -> (Int32, String) {
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
        return (status, String(decoding: data, as: UTF8.self))
    }

    /// `RDR_TORTURE_TRACE=1` prints every command with its status and duration.
    static let trace = ProcessInfo.processInfo.environment["RDR_TORTURE_TRACE"] != nil

    func run(_ args: [String], kill delay: Double? = nil, env: [String: String] = [:]) -> (Int32, String) {
        let begin = Date()
        guard let (p, out) = start(args, env: env) else { return (127, "") }
        if let delay {
            usleep(useconds_t(delay * 1_000_000))
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
        let result = finish(p, out)
        if Self.trace {
            print(
                String(
                    format: "  %6.2f s  %3d  rdr %@", Date().timeIntervalSince(begin), result.0,
                    args.joined(separator: " ")))
        }
        return result
    }

    /// The `session` object of `rdr status --json`, or nil when status fails.
    func session() -> [String: Any]? {
        let (status, out) = run(["status", "--json"])
        guard status == 0, let obj = (try? JSONSerialization.jsonObject(with: Data(out.utf8))) as? [String: Any] else {
            return nil
        }
        return obj["session"] as? [String: Any]
    }

    func image(_ disk: String, _ e: Int) -> [UInt8] {
        [UInt8](FileManager.default.contents(atPath: "\(system)/\(disk)-\(e).img") ?? Data())
    }
}
