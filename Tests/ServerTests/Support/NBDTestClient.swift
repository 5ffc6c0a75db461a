import Foundation
import Glibc
import NBDWire

/// A small blocking NBD client built on the codec, for what the real tools cannot do: watch a
/// refusal's error value and message, keep a log of acknowledged writes and flushes (the crash
/// oracle), send garbage.
final class NBDTestClient {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The server refused NBD_OPT_GO (or another option) with `type` and `message`.
    struct Refused: Error {
        let type: OptionReplyType
        let message: String
    }

    let fd: Int32
    private var decoder = ServerMessageDecoder()
    private var cookie: UInt64 = 0
    private(set) var size: UInt64 = 0
    private(set) var flags: TransmissionFlags = []
    private(set) var structured = false

    init(socket path: String) throws {
        fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        let r = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard r == 0 else {
            Glibc.close(fd)
            throw Failure(description: "connect \(path): \(String(cString: strerror(errno)))")
        }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { Glibc.close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL))
            }
            guard n > 0 else { throw Failure(description: "send: \(String(cString: strerror(errno)))") }
            done += n
        }
    }

    private func next() throws -> ServerMessage {
        while true {
            if let message = try decoder.next() { return message }
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else {
                throw Failure(
                    description: n == 0
                        ? "the server closed the connection" : "recv: \(String(cString: strerror(errno)))")
            }
            decoder.feed(buffer[0..<n])
        }
    }

    /// The pending payload: the bytes already fed, then the rest straight from the socket.
    private func payload(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let fed = out.withUnsafeMutableBytes { decoder.readPayload(into: $0) }
        var filled = fed
        while filled < count {
            let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + filled, count - filled, 0) }
            guard n > 0 else { throw Failure(description: "connection closed in a payload") }
            filled += n
        }
        decoder.payloadReadDirectly(count - fed)
        return out
    }

    /// Greeting, client flags, optionally STRUCTURED_REPLY and SET_META_CONTEXT, then GO.
    func connect(export: String, structured: Bool = true, contexts: [String] = []) throws {
        guard case .greeting = try next() else { throw Failure(description: "no greeting") }
        try send(ClientFlags([.fixedNewstyle, .noZeroes]).encoded)
        if structured {
            try option(.structuredReply)
            self.structured = true
        }
        if !contexts.isEmpty { try option(.setMetaContext(MetaContextRequest(exportName: export, queries: contexts))) }
        try option(.go(ExportRequest(name: export, infoRequests: [.blockSize])))
    }

    /// Sends an option and reads its replies up to the final one; throws `Refused` on an error.
    @discardableResult
    func option(_ option: ClientOption) throws -> [OptionReplyBody] {
        try send(option.encoded)
        var bodies: [OptionReplyBody] = []
        while true {
            guard case .optionReply(let reply) = try next() else {
                throw Failure(description: "expected an option reply")
            }
            bodies.append(reply.body)
            switch reply.body {
            case .ack: return bodies
            case .error(let type, let message): throw Refused(type: type, message: message)
            case .info(.export(let size, let flags)):
                self.size = size
                self.flags = flags
            default: continue
            }
        }
    }

    /// One request, answered before the next: the error value and (READ) the data.
    func call(_ command: NBDCommand, offset: UInt64, length: UInt32, flags: CommandFlags = [], data: [UInt8] = [])
        throws -> (NBDErrno, [UInt8])
    {
        cookie += 1
        try send(
            NBDRequest(flags: flags, command: command, cookie: cookie, offset: offset, length: length).encoded + data)
        var result: [UInt8] = []
        while true {
            switch try next() {
            case .simpleReply(let reply):
                guard reply.cookie == cookie else {
                    throw Failure(description: "reply for cookie \(reply.cookie), expected \(cookie)")
                }
                if reply.error == .ok && command == .read && length > 0 {
                    decoder.expectPayload(Int(length))
                    result = try payload(Int(length))
                }
                return (reply.error, result)
            case .chunk(let chunk):
                switch chunk.body {
                case .offsetData(_, let count): result += try payload(Int(count))
                case .error(let code, _), .errorOffset(let code, _, _):
                    if chunk.flags.contains(.done) { return (code, []) }
                default: break
                }
                if chunk.flags.contains(.done) { return (.ok, result) }
            default:
                throw Failure(description: "unexpected message in transmission")
            }
        }
    }

    /// The next reply to a request without data in its reply (WRITE, FLUSH, …): its cookie and
    /// error value, simple or structured.
    func nextReply() throws -> (cookie: UInt64, error: NBDErrno) {
        while true {
            switch try next() {
            case .simpleReply(let reply): return (reply.cookie, reply.error)
            case .chunk(let chunk):
                switch chunk.body {
                case .error(let code, _), .errorOffset(let code, _, _): return (chunk.cookie, code)
                default: if chunk.flags.contains(.done) { return (chunk.cookie, .ok) }
                }
            default: throw Failure(description: "unexpected message in transmission")
            }
        }
    }

    func write(_ offset: UInt64, _ bytes: [UInt8], flags: CommandFlags = []) throws -> NBDErrno {
        try call(.write, offset: offset, length: UInt32(bytes.count), flags: flags, data: bytes).0
    }

    func read(_ offset: UInt64, _ length: Int) throws -> (NBDErrno, [UInt8]) {
        try call(.read, offset: offset, length: UInt32(length))
    }

    func flush() throws -> NBDErrno { try call(.flush, offset: 0, length: 0).0 }

    func disconnect() { try? send(NBDRequest(command: .disc, cookie: 0, offset: 0, length: 0).encoded) }
}
