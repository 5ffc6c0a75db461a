import CRDRSys
import Foundation
import Glibc
import Synchronization
import XCTest

@testable import RDR
@testable import RDRServer

/// The control protocol without the CLI: a runner that writes to the descriptors it was passed
/// stands for the command the owner runs.
final class ControlSocketTests: XCTestCase {
    private var path = ""

    override func setUpWithError() throws {
        path = NSTemporaryDirectory() + "rdr-ctl-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: path) }

    private let request = ControlProtocol.Request(
        arguments: ["write", "boot", "0", "héllo"], workingDirectory: "/tmp",
        variables: ["RDR_SYSTEM": "Images/x", "EMPTY": ""])

    /// Forwards `request` with fresh pipes as stdout and stderr; returns the exit code and both outputs.
    private func forward(_ request: ControlProtocol.Request, interrupt: Int32? = nil) throws -> (Int32?, String, String)
    {
        var out: [Int32] = [-1, -1]
        var err: [Int32] = [-1, -1]
        XCTAssertEqual(pipe(&out), 0)
        XCTAssertEqual(pipe(&err), 0)
        let code: Int32?
        do {
            switch try ControlClient.forward(
                systemPath: path, request: request, descriptors: [0, out[1], err[1]], interrupt: interrupt)
            {
            case .exited(let c): code = c
            case .noOwner: code = nil
            case .notAdmitted: code = -1
            }
        } catch {
            close(out[1])
            close(err[1])
            close(out[0])
            close(err[0])
            throw error
        }
        close(out[1])
        close(err[1])
        let o = FileHandle(fileDescriptor: out[0], closeOnDealloc: true).readDataToEndOfFile()
        let e = FileHandle(fileDescriptor: err[0], closeOnDealloc: true).readDataToEndOfFile()
        return (code, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    private static func write(_ text: String, _ fd: Int32) { ControlConnection.write(text, to: fd) }

    func testTheOwnerRunsTheRequestWithTheClientsDescriptorsAndReturnsItsExitCode() throws {
        let server = try ControlServer(systemPath: path, owner: nil) { command in
            Self.write(
                command.request.arguments.joined(separator: "|") + "\n" + command.request.workingDirectory + "\n",
                command.stdout)
            Self.write(
                command.request.variables.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                    separator: ",") + "\n", command.stderr)
            Self.write("pid \(command.clientPID)\n", command.stderr)
            return 7
        }
        defer { server.stop() }
        var st = stat()
        XCTAssertEqual(lstat(path + "/.rdr.control", &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600, "the control socket is for its user only")
        let (code, out, err) = try forward(request)
        XCTAssertEqual(code, 7)
        XCTAssertEqual(out, "write|boot|0|héllo\n/tmp\n")
        XCTAssertEqual(err, "EMPTY=,RDR_SYSTEM=Images/x\npid \(getpid())\n")
        server.stop()
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: path + "/.rdr.control"), "a clean stop removes the socket")
        XCTAssertNil(try forward(request).0, "no owner: the client runs the command itself")
    }

    func testAnInterruptCancelsTheForwardedCommand() throws {
        let started = DispatchSemaphore(value: 0)
        let server = try ControlServer(systemPath: path, owner: nil) { command in
            started.signal()
            for _ in 0..<3000 where !command.cancellation.isCancelled { usleep(10_000) }
            Self.write(command.cancellation.isCancelled ? "interrupted\n" : "not cancelled\n", command.stderr)
            return command.cancellation.isCancelled ? 130 : 0
        }
        defer { server.stop() }
        var interrupt: [Int32] = [-1, -1]
        XCTAssertEqual(pipe(&interrupt), 0)
        defer {
            close(interrupt[0])
            close(interrupt[1])
        }
        let writeEnd = interrupt[1]
        DispatchQueue.global().async {
            started.wait()
            var signal = UInt8(SIGINT)
            _ = Glibc.write(writeEnd, &signal, 1)
        }
        let (code, _, err) = try forward(request, interrupt: interrupt[0])
        XCTAssertEqual(code, 130)
        XCTAssertEqual(err, "interrupted\n")
    }

    func testAClientThatGoesAwayCancelsItsCommand() throws {
        let cancelled = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let server = try ControlServer(systemPath: path, owner: nil) { command in
            started.signal()
            for _ in 0..<3000 where !command.cancellation.isCancelled { usleep(10_000) }
            if command.cancellation.isCancelled { cancelled.signal() }
            return 130
        }
        defer { server.stop() }
        let fd = try XCTUnwrap(ControlSocketAddress.connect(system: path))
        let bytes = ControlProtocol.encode(request)
        XCTAssertEqual(
            bytes.withUnsafeBytes { rdr_send_with_fds(fd, $0.baseAddress, UInt64($0.count), [0, 1, 2], 3) },
            Int64(bytes.count))
        XCTAssertEqual(started.wait(timeout: .now() + 10), .success)
        close(fd)
        XCTAssertEqual(
            cancelled.wait(timeout: .now() + 10), .success, "a disconnected client's command must be cancelled")
    }

    /// `rdr serve` stopping cancels forwarded commands; a background worker done with its work
    /// lets them finish.
    func testAStopCancelsOrLetsRunningCommandsFinish() throws {
        for cancelling in [true, false] {
            let started = DispatchSemaphore(value: 0)
            let server = try ControlServer(systemPath: path, owner: nil) { command in
                started.signal()
                for _ in 0..<50 where !command.cancellation.isCancelled { usleep(10_000) }
                return command.cancellation.isCancelled ? 130 : 0
            }
            let outcome = Mutex<ControlClient.Outcome?>(nil)
            let done = DispatchSemaphore(value: 0)
            let (path, request) = (self.path, self.request)
            DispatchQueue.global().async {
                let o = try? ControlClient.forward(systemPath: path, request: request, descriptors: [0, 1, 2])
                outcome.withLock { $0 = o }
                done.signal()
            }
            XCTAssertEqual(started.wait(timeout: .now() + 10), .success)
            server.stop(cancelling: cancelling)
            XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
            XCTAssertEqual(outcome.withLock { $0 }, .exited(cancelling ? 130 : 0))
            XCTAssertEqual(try forward(request).0, nil, "a stopped owner accepts nobody")
        }
    }

    func testMalformedRequestsRunNothingAndTheServerGoesOn() throws {
        let runs = Atomic<Int>(0)
        let server = try ControlServer(systemPath: path, owner: nil, handshakeSeconds: 0.5) { _ in
            runs.add(1, ordering: .relaxed)
            return 0
        }
        defer { server.stop() }
        for bad in [
            Array("NBDMAGIC and more".utf8), Array("RDRC".utf8) + [9, 0, 0, 0, 0, 0, 0, 0],
            Array("RDRC".utf8) + [1, 0, 0, 0, 0x7f, 0, 0, 0], Array("RDR".utf8),
        ] {
            let fd = try XCTUnwrap(ControlSocketAddress.connect(system: path))
            _ = bad.withUnsafeBytes { rdr_send_with_fds(fd, $0.baseAddress, UInt64($0.count), [0, 1, 2], 3) }
            var byte: UInt8 = 0
            XCTAssertLessThanOrEqual(
                recv(fd, &byte, 1, 0), 0,
                "the owner closes the connection (or resets it, bytes unread) without an exit code")
            close(fd)
        }
        // A well-formed request without its three descriptors is refused too.
        let fd = try XCTUnwrap(ControlSocketAddress.connect(system: path))
        let bytes = ControlProtocol.encode(request)
        _ = bytes.withUnsafeBytes { rdr_send_with_fds(fd, $0.baseAddress, UInt64($0.count), [1], 1) }
        var byte: UInt8 = 0
        XCTAssertLessThanOrEqual(recv(fd, &byte, 1, 0), 0)
        close(fd)
        XCTAssertEqual(runs.load(ordering: .relaxed), 0)
        XCTAssertEqual(try forward(request).0, 0)
        XCTAssertEqual(runs.load(ordering: .relaxed), 1)
    }

    func testCommandsBeyondTheLimitAreRefusedAsBusy() throws {
        let release = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let server = try ControlServer(systemPath: path, owner: nil, maxCommands: 1) { _ in
            started.signal()
            release.wait()
            return 0
        }
        defer { server.stop() }
        let first = DispatchSemaphore(value: 0)
        let firstCode = Mutex<Int32?>(nil)
        let request = self.request
        let path = self.path
        DispatchQueue.global().async {
            let outcome = try? ControlClient.forward(systemPath: path, request: request, descriptors: [0, 1, 2])
            firstCode.withLock { $0 = outcome == .exited(0) ? 0 : -1 }
            first.signal()
        }
        XCTAssertEqual(started.wait(timeout: .now() + 10), .success)
        let (code, _, err) = try forward(request)
        XCTAssertEqual(code, 75)
        XCTAssertTrue(
            err.hasPrefix(
                "Error: system \(path) is busy: its owner (pid \(getpid())) is running 1 forwarded commands already"),
            err)
        release.signal()
        XCTAssertEqual(first.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(firstCode.withLock { $0 }, 0)
    }

    func testAStaleSocketIsIgnoredAndReplaced() throws {
        // What a killed owner leaves: a socket file nobody accepts on.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertEqual(ControlSocketAddress.with(system: path) { bind(stale, $0, $1) }, 0)
        close(stale)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path + "/.rdr.control"))
        XCTAssertFalse(ControlClient.ownerIsLive(systemPath: path))
        XCTAssertNil(try forward(request).0)
        let server = try ControlServer(systemPath: path, owner: nil) { _ in 3 }
        defer { server.stop() }
        XCTAssertEqual(try forward(request).0, 3)
        XCTAssertThrowsError(try ControlServer(systemPath: path, owner: nil) { _ in 0 }) {
            XCTAssertEqual(($0 as? RDRError)?.kind, .busy, "a live owner's socket is never replaced")
        }
    }

    func testASystemPathLongerThanASocketAddressWorks() throws {
        path += "/" + String(repeating: "d", count: 120)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let server = try ControlServer(systemPath: path, owner: nil) { command in
            Self.write("ok\n", command.stdout)
            return 0
        }
        defer { server.stop() }
        let (code, out, _) = try forward(request)
        XCTAssertEqual(code, 0)
        XCTAssertEqual(out, "ok\n")
    }

    func testTheRequestCodecRoundTripsAndRefusesDamage() {
        let bytes = ControlProtocol.encode(request)
        let header = Array(bytes.prefix(ControlProtocol.headerSize))
        let payload = Array(bytes.dropFirst(ControlProtocol.headerSize))
        XCTAssertEqual(try ControlProtocol.payloadLength(header: header).get(), payload.count)
        XCTAssertEqual(try ControlProtocol.decode(payload: payload, header: header).get(), request)
        for cut in [1, 5, payload.count - 1] {
            XCTAssertThrowsError(try ControlProtocol.decode(payload: Array(payload.prefix(cut)), header: header).get())
        }
        XCTAssertThrowsError(try ControlProtocol.decode(payload: payload + [0], header: header).get())
        var huge = header
        huge[8] = 0x7f
        XCTAssertThrowsError(try ControlProtocol.payloadLength(header: huge).get())
        let relative = ControlProtocol.Request(arguments: [], workingDirectory: "tmp", variables: [:])
        XCTAssertThrowsError(
            try ControlProtocol.decode(payload: Array(ControlProtocol.encode(relative).dropFirst(12)), header: header)
                .get())
        // The closed streams and the file-creation mask travel in the header; none given reads as nil.
        var streams = request
        streams.closedStreams = 0b010
        streams.fileMask = 0o077
        let encoded = ControlProtocol.encode(streams)
        XCTAssertEqual(
            try ControlProtocol.decode(
                payload: Array(encoded.dropFirst(ControlProtocol.headerSize)),
                header: Array(encoded.prefix(ControlProtocol.headerSize))
            ).get(), streams)
        XCTAssertNil(try ControlProtocol.decode(payload: payload, header: header).get().fileMask)
    }
}
