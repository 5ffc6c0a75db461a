import Foundation
import Synchronization
import XCTest

@testable import RDR
@testable import rdr

/// rdr's stream type (Foundation has one of the same name).
typealias CommandOutput = rdr.OutputStream

/// Commands run in this process through `CLI.run` with an environment of the test's making: the
/// way a server runs a command forwarded by a client. Everything a command touches besides the
/// files it is asked to — directory, variables, streams, stdin, cancellation — comes from it.
final class CommandEnvironmentTests: XCTestCase {
    /// Collects what a command writes to one stream.
    final class Capture: Sendable {
        private let bytes = Mutex<[UInt8]>([])
        var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }
        var stream: CommandOutput { CommandOutput { b in self.bytes.withLock { $0 += b } } }
        var data: [UInt8] { bytes.withLock { $0 } }
    }

    struct Run {
        let status: Int32
        let out: Capture
        let err: Capture
    }

    func run(
        _ args: [String], in directory: String, variables: [String: String] = [:], stdin: Int32 = -1,
        cancellation: CancellationFlag = CancellationFlag()
    ) -> Run {
        let out = Capture()
        let err = Capture()
        let env = CommandEnvironment(
            arguments: args, workingDirectory: directory, variables: variables, stdin: stdin,
            out: out.stream, err: err.stream, cancellation: cancellation)
        return Run(status: CLI.run(env), out: out, err: err)
    }

    func testRelativeSystemResolvesAgainstTheEnvironmentsDirectory() throws {
        let scratch = try Scratch()
        let made = run(["init", "--system", "sys", "--disk", "a:1M:data"], in: scratch.path)
        XCTAssertEqual(made.status, 0, made.err.text)
        XCTAssertTrue(FileManager.default.fileExists(atPath: scratch.system + "/rdr.json"), made.out.text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "sys"), "the test process's own directory was used")
        let status = run(["status", "--system", "sys"], in: scratch.path)
        XCTAssertEqual(status.status, 0, status.err.text)
        XCTAssertTrue(status.out.text.contains("System: \(scratch.system)\n"), status.out.text)
        XCTAssertTrue(status.out.text.contains("Disk a (data, 1 MiB"), status.out.text)
        XCTAssertEqual(status.err.text, "")
    }

    func testRDRSystemComesFromTheEnvironmentsVariables() throws {
        let scratch = try Scratch()
        XCTAssertEqual(run(["init", "--system", scratch.system, "--disk", "b:1M:data"], in: "/").status, 0)
        let status = run(["status", "--json"], in: scratch.path, variables: ["RDR_SYSTEM": "sys"])
        XCTAssertEqual(status.status, 0, status.err.text)
        let object = try JSONSerialization.jsonObject(with: Data(status.out.text.utf8)) as? [String: Any]
        XCTAssertEqual(object?["system"] as? String, scratch.system)
    }

    func testErrorsGoToTheErrorStreamNamingThePathAsTyped() throws {
        let scratch = try Scratch()
        let r = run(["status", "--system", "missing"], in: scratch.path)
        XCTAssertEqual(r.status, ExitCode.usage)
        XCTAssertEqual(r.out.text, "")
        let first = r.err.text.split(separator: "\n").first.map(String.init) ?? ""
        XCTAssertTrue(first.hasPrefix("Error: no system at missing: "), r.err.text)
        XCTAssertFalse(r.err.text.contains(scratch.path), r.err.text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.path + "/missing"))
    }

    func testWriteStdinReadsTheEnvironmentsDescriptorAndReadStreamsBack() throws {
        let scratch = try Scratch()
        XCTAssertEqual(run(["init", "--system", "sys", "--disk", "c:1M:data"], in: scratch.path).status, 0)
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let payload = Array("bytes through a forwarded pipe".utf8)
        XCTAssertEqual(payload.withUnsafeBytes { Glibc.write(fds[1], $0.baseAddress, payload.count) }, payload.count)
        close(fds[1])
        defer { close(fds[0]) }
        let w = run(["write", "c", "--system", "sys", "--offset", "4096", "--stdin"], in: scratch.path, stdin: fds[0])
        XCTAssertEqual(w.status, 0, w.err.text)
        XCTAssertEqual(w.out.text, "wrote \(payload.count) bytes to c at offset 4096\n")
        let r = run(
            ["read", "c", "--system", "sys", "--offset", "4096", "--length", "\(payload.count)"], in: scratch.path)
        XCTAssertEqual(r.status, 0, r.err.text)
        XCTAssertEqual(r.out.data, payload)
        let image = try XCTUnwrap(FileManager.default.contents(atPath: scratch.image("c", 10)))
        XCTAssertEqual(Array(image[4096..<(4096 + payload.count)]), payload)
    }

    func testACancelledEnvironmentStopsAWorkloadWith130() throws {
        let scratch = try Scratch()
        XCTAssertEqual(run(["init", "--system", "sys", "--disk", "d:4M:data"], in: scratch.path).status, 0)
        let cancelled = CancellationFlag()
        cancelled.cancel()
        let r = run(["workload", "d", "--system", "sys", "--bytes", "4M"], in: scratch.path, cancellation: cancelled)
        XCTAssertEqual(r.status, ExitCode.interrupted, r.err.text)
        XCTAssertTrue(r.err.text.hasPrefix("Error: workload on 'd' interrupted after "), r.err.text)
    }

    func testOutputFileDescriptorWritesEverythingThroughAPipe() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]) }
        let stream = CommandOutput.fileDescriptor(fds[1])
        XCTAssertFalse(stream.isTerminal)
        stream.line("first")
        stream.bytes(Array("second".utf8))
        close(fds[1])
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = read(fds[0], &buffer, buffer.count)
        XCTAssertEqual(String(decoding: buffer.prefix(max(0, n)), as: UTF8.self), "first\nsecond")
        XCTAssertEqual(
            CommandOutput.fileDescriptor(fds[0]).checkedBytes([1]), EBADF, "a read-only end refuses the write")
    }

    /// The `--json` outputs come from Codable types: the same keys and values as before.
    func testVerifyAndWorkloadJSONKeysAndValues() throws {
        let scratch = try Scratch()
        for args in [["init", "--system", "sys", "--disk", "e:1M:data"], ["disk", "split", "--system", "sys"]] {
            XCTAssertEqual(run(args, in: scratch.path).status, 0)
        }
        let w = run(
            [
                "workload", "e", "--system", "sys", "--side", "production", "--bytes", "64K", "--io-size", "64K",
                "--json",
            ], in: scratch.path)
        XCTAssertEqual(w.status, 0, w.err.text)
        let workload = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(w.out.data)) as? [String: Any])
        XCTAssertEqual(Set(workload.keys), ["bytesWritten", "writes", "seconds", "mibPerSecond"])
        XCTAssertEqual(workload["bytesWritten"] as? Int, 65536)
        XCTAssertEqual(workload["writes"] as? Int, 1)
        let v = run(["disk", "verify", "e", "--system", "sys", "--json"], in: scratch.path)
        XCTAssertEqual(v.status, ExitCode.differences, v.err.text)
        let verify = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(v.out.data)) as? [String: Any])
        XCTAssertEqual(
            Set(verify.keys),
            [
                "disk", "identical", "bytesCompared", "mismatchedBytes", "unexplainedRegions", "mismatched", "repaired",
                "seconds",
            ])
        XCTAssertEqual(verify["disk"] as? String, "e")
        XCTAssertEqual(verify["identical"] as? Bool, false)
        XCTAssertEqual(verify["mismatchedBytes"] as? Int, 65536)
        XCTAssertEqual(verify["unexplainedRegions"] as? Int, 0)
        let ranges = try XCTUnwrap(verify["mismatched"] as? [[String: Int]])
        XCTAssertEqual(ranges.count, 1)
        XCTAssertEqual(ranges.first?["length"], 65536)
    }
}
