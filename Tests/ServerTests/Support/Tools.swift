import Foundation
import Synchronization
import XCTest

/// External programs the tests drive (qemu-io, qemu-img, nbdinfo, nbdcopy, fio, nbdfuse, …).
/// A test whose tool or kernel feature is missing skips with the reason printed.
enum Tools {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        var output: String { stdout + stderr }
    }

    static func path(_ name: String) -> String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        for dir in dirs.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return nil
    }

    /// Skips the test (printing why) unless every tool is installed.
    static func require(_ names: String..., file: StaticString = #filePath, line: UInt = #line) throws {
        let missing = names.filter { path($0) == nil }
        if !missing.isEmpty {
            let reason = "skipped: \(missing.joined(separator: ", ")) not installed (CI installs them in .ci/run)"
            print(reason)
            throw XCTSkip(reason, file: file, line: line)
        }
    }

    static func skip(_ reason: String, file: StaticString = #filePath, line: UInt = #line) -> XCTSkip {
        print("skipped: \(reason)")
        return XCTSkip(reason, file: file, line: line)
    }

    /// Runs `name` with `arguments` to completion, reading both pipes before waiting.
    @discardableResult
    static func run(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let (process, out, err) = try start(name, arguments, environment: environment)
        return finish(process, out, err)
    }

    static func start(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (
        Process, Pipe, Pipe
    ) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: name.hasPrefix("/") ? name : (path(name) ?? name))
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "RDR_SYSTEM")
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return (p, out, err)
    }

    static func finish(_ p: Process, _ out: Pipe, _ err: Pipe) -> Result {
        let errData = Mutex<Data>(Data())
        let drained = DispatchSemaphore(value: 0)
        let errHandle = err.fileHandleForReading
        DispatchQueue.global().async {
            let d = errHandle.readDataToEndOfFile()
            errData.withLock { $0 = d }
            drained.signal()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        p.waitUntilExit()
        return Result(
            status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData.withLock { $0 }, as: UTF8.self))
    }

    /// The built `rdr` next to the test bundle.
    static var rdr: String {
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("rdr").path
    }
}
