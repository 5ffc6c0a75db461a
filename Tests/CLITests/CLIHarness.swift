import Foundation
import Synchronization
import XCTest

@testable import RDR

/// Runs the built `rdr` binary as a child process, reading both pipes before waiting for it.
struct RDRProcess {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static var binary: String {
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("rdr").path
    }

    static func start(_ args: [String], environment: [String: String] = [:], stdin: Data? = nil) throws -> (
        Process, Pipe, Pipe
    ) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "RDR_SYSTEM")
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        if let stdin {
            let input = Pipe()
            p.standardInput = input
            try p.run()
            input.fileHandleForWriting.write(stdin)
            try input.fileHandleForWriting.close()
        } else {
            p.standardInput = FileHandle.nullDevice
            try p.run()
        }
        return (p, out, err)
    }

    static func finish(_ p: Process, _ out: Pipe, _ err: Pipe) -> Result {
        // Drain stderr on another thread while this one drains stdout: a full pipe would block the child.
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

    @discardableResult
    static func run(_ args: [String], environment: [String: String] = [:], stdin: Data? = nil) throws -> Result {
        let (p, out, err) = try start(args, environment: environment, stdin: stdin)
        return finish(p, out, err)
    }
}

/// A temporary directory for one test's systems.
final class Scratch {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "rdr-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    var system: String { path + "/sys" }
    func image(_ disk: String, _ e: Int) -> String { "\(system)/\(disk)-\(e).img" }
    func metadata(_ disk: String, _ e: Int) -> String { "\(system)/\(disk)-\(e).rdrmeta" }

    /// Every file of the system with its bytes, to prove a refused command changed nothing.
    func snapshot() -> [String: Data] {
        var out: [String: Data] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: system)) ?? [] where !name.hasPrefix(".") {
            out[name] = FileManager.default.contents(atPath: system + "/" + name)
        }
        return out
    }
}

func data(_ path: String) -> Data { FileManager.default.contents(atPath: path) ?? Data() }

extension XCTestCase {
    /// Runs `rdr` and asserts its exit status; returns the result for further checks.
    @discardableResult
    func rdr(
        _ args: [String], expect status: Int32 = 0, stdin: Data? = nil, file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> RDRProcess.Result {
        let r = try RDRProcess.run(args, stdin: stdin)
        XCTAssertEqual(
            r.status, status, "rdr \(args.joined(separator: " "))\nstdout: \(r.stdout)\nstderr: \(r.stderr)",
            file: file, line: line)
        return r
    }

    /// Asserts a one-line error that names the problem, with a non-zero exit and no change on disk.
    func refused(
        _ args: [String], _ scratch: Scratch, status: Int32, mentions text: String, file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let before = scratch.snapshot()
        let r = try rdr(args, expect: status, file: file, line: line)
        let first = r.stderr.split(separator: "\n").first.map(String.init) ?? ""
        XCTAssertTrue(first.hasPrefix("Error: "), "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(first.contains(text), "'\(first)' lacks '\(text)'", file: file, line: line)
        XCTAssertEqual(scratch.snapshot(), before, "a refused command changed files", file: file, line: line)
    }

    func statusJSON(_ system: String) throws -> [String: Any] {
        let r = try RDRProcess.run(["status", "--system", system, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
    }
}

func disk(_ status: [String: Any], _ name: String) -> [String: Any] {
    ((status["disks"] as? [[String: Any]]) ?? []).first { $0["name"] as? String == name } ?? [:]
}
