import Foundation
import Glibc
import XCTest

/// An owner for the forwarding tests: `rdr serve` as a child process, ready once its control
/// socket and its NBD socket exist.
final class ServedOwner {
    let system: String
    let process: Process
    private let out: Pipe, err: Pipe

    init(system: String) throws {
        self.system = system
        (process, out, err) = try RDRProcess.start(["serve", "--system", system])
        let deadline = Date().addingTimeInterval(30)
        // Connectable, not merely present: a killed owner leaves both socket files behind.
        while !Self.accepts(system + "/.rdr.control") || !Self.accepts(system + "/nbd.sock") {
            guard process.isRunning, Date() < deadline else {
                let r = RDRProcess.finish(process, out, err)
                throw NSError(domain: "rdr serve did not start: \(r.stdout)\(r.stderr)", code: 1)
            }
            usleep(20_000)
        }
    }

    var pid: Int32 { process.processIdentifier }

    /// Whether something accepts connections on the Unix socket at `path`.
    static func accepts(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = b }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        } == 0
    }

    @discardableResult
    func stop(_ signal: Int32 = SIGTERM) -> RDRProcess.Result {
        if process.isRunning { kill(pid, signal) }
        return RDRProcess.finish(process, out, err)
    }
}

/// A minimal NBD client (fixed newstyle, NBD_OPT_EXPORT_NAME, simple replies) that stays
/// connected while a test runs commands, and reads through the server at the end.
/// Runs `script` with bash, as a user types it (pipes, redirections, umask, cd); its exit status
/// and what it printed on stdout and stderr together.
func bash(_ script: String) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = ["-c", script]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, output)
}

final class ConnectedNBDClient {
    private let fd: Int32

    init(socket path: String, export: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = b }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { throw NSError(domain: "cannot connect to \(path)", code: Int(errno)) }
        let greeting = try receive(18)  // NBDMAGIC, IHAVEOPT, handshake flags
        guard Array(greeting.prefix(8)) == Array("NBDMAGIC".utf8) else {
            throw NSError(domain: "not an NBD server", code: 1)
        }
        try send(Self.be32(3))  // FIXED_NEWSTYLE | NO_ZEROES
        try send(Array("IHAVEOPT".utf8) + Self.be32(1) + Self.be32(UInt32(export.utf8.count)) + Array(export.utf8))
        _ = try receive(10)  // export size and transmission flags
    }

    deinit { close(fd) }

    /// NBD_CMD_READ; the reply's error (0 = success) and the bytes.
    func read(offset: UInt64, length: UInt32) throws -> (UInt32, [UInt8]) {
        try send(Self.be32(0x2560_9513) + [0, 0, 0, 0] + Self.be64(7) + Self.be64(offset) + Self.be32(length))
        let reply = try receive(16)
        let error = reply[4..<8].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return (error, error == 0 ? try receive(Int(length)) : [])
    }

    /// NBD_CMD_WRITE (no FUA, no FLUSH after it); the reply's error (0 = success).
    func write(offset: UInt64, _ bytes: [UInt8]) throws -> UInt32 {
        try send(
            Self.be32(0x2560_9513) + [0, 0, 0, 1] + Self.be64(8) + Self.be64(offset) + Self.be32(UInt32(bytes.count))
                + bytes)
        let reply = try receive(16)
        return reply[4..<8].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    private func send(_ bytes: [UInt8]) throws {
        guard bytes.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count
        else {
            throw NSError(domain: "NBD send failed", code: Int(errno))
        }
    }

    private func receive(_ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        guard
            count == 0 || bytes.withUnsafeMutableBytes({ recv(fd, $0.baseAddress, count, Int32(MSG_WAITALL)) }) == count
        else {
            throw NSError(domain: "NBD connection closed", code: 1)
        }
        return bytes
    }

    private static func be32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
    private static func be64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
}

/// Output of a run with the parts that differ between any two runs (timings, rates, pids, the
/// scratch directory, and the activity log's entry count: `finish` logs the resyncs still
/// running at that instant, which depends on the machine's load) replaced, so two runs compare
/// equal when the commands did the same.
func normalized(_ text: String, replacing path: String) -> String {
    var t = text.replacingOccurrences(of: path, with: "<dir>")
    for (pattern, replacement) in [
        (#"pid [0-9]+"#, "pid <n>"), (#"[0-9]+(\.[0-9]+)? (s|MiB/s)\b"#, "<t> $2"),
        (#"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+Z"#, "<time>"), (#"ETA [0-9:-]+"#, "ETA <t>"),
        (#"saved [0-9]+ entries"#, "saved <n> entries"),
    ] {
        t = t.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
    }
    return t
}
