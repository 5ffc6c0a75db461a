import Foundation
import Glibc
import NBDWire

/// A blocking Unix stream socket for the interoperability tests (the codec itself does no I/O).
final class UnixSocket {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ what: String) { description = "\(what): \(String(cString: strerror(errno)))" }
    }

    let fd: Int32

    init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    /// A new socket and the result of `call` (bind or connect) on it with the address of `path`.
    private static func open(_ path: String, _ call: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32) -> (
        UnixSocket, Int32
    ) {
        let socket = UnixSocket(fd: Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                call(socket.fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return (socket, result)
    }

    static func connect(_ path: String) throws -> UnixSocket {
        let (socket, result) = open(path) { Glibc.connect($0, $1, $2) }
        guard result == 0 else { throw Failure("connect \(path)") }
        return socket
    }

    static func listen(_ path: String) throws -> UnixSocket {
        let (socket, result) = open(path) { Glibc.bind($0, $1, $2) }
        guard result == 0, Glibc.listen(socket.fd, 4) == 0 else { throw Failure("listen \(path)") }
        return socket
    }

    func accept() throws -> UnixSocket {
        let client = Glibc.accept(fd, nil, nil)
        guard client >= 0 else { throw Failure("accept") }
        return UnixSocket(fd: client)
    }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
            }
            guard n > 0 else { throw Failure("send") }
            sent += n
        }
    }

    /// Reads what is available (at least one byte); empty at end of stream.
    func receive(max: Int = 1 << 20) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max)
        let n = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, max, 0) }
        guard n >= 0 else { throw Failure("recv") }
        return Array(buffer.prefix(n))
    }

    /// Reads the next whole message into `decoder`, failing at end of stream.
    func next<D: NBDStreamDecoding>(_ decoder: inout D) throws -> D.Message {
        while true {
            if let message = try decoder.next() { return message }
            let bytes = try receive()
            guard !bytes.isEmpty else { throw Failure("end of stream") }
            decoder.feed(bytes)
        }
    }

    /// Reads the pending payload: first the bytes already fed, then the rest straight from the
    /// socket into the same buffer — the zero-copy path a server uses for a WRITE.
    func payload<D: NBDStreamDecoding>(_ decoder: inout D) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: decoder.payloadRemaining)
        var filled = buffer.withUnsafeMutableBytes { decoder.readPayload(into: $0) }
        let fed = filled
        while filled < buffer.count {
            let n = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress! + filled, $0.count - filled, 0) }
            guard n > 0 else { throw Failure("payload") }
            filled += n
        }
        decoder.payloadReadDirectly(buffer.count - fed)
        return buffer
    }
}

/// The path of an installed tool, or nil (the test then skips, saying so).
func tool(_ name: String) -> String? {
    let dirs =
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + [
            "/usr/sbin", "/usr/bin", "/sbin",
        ]
    return dirs.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Waits (up to 10 s) for a Unix socket to appear.
func waitForSocket(_ path: String) -> Bool {
    for _ in 0..<200 {
        if FileManager.default.fileExists(atPath: path) { return true }
        usleep(50_000)
    }
    return false
}
