import CRDRSys
import Glibc
import RDR

/// The owner's side of one control connection: reading the request with its descriptors, and
/// running the command while listening for the client's cancel or disappearance.
enum ControlConnection {
    /// The request and the client's stdin, stdout and stderr, or nil (malformed, timed out, or
    /// not exactly three descriptors: whatever came is closed).
    static func receiveRequest(_ socket: Socket) -> (ControlProtocol.Request, [Int32])? {
        var header = [UInt8](repeating: 0, count: ControlProtocol.headerSize)
        var fds = [Int32](repeating: -1, count: 3)
        var count: Int32 = 0
        // The descriptors ride on the first byte; recvmsg may return only part of the header.
        let n = header.withUnsafeMutableBytes { raw in
            rdr_recv_with_fds(socket.fd, raw.baseAddress, UInt64(raw.count), &fds, 3, &count)
        }
        let passed = Array(fds.prefix(Int(count)))
        let request = n > 0 ? finishRequest(socket, header: &header, have: Int(n)) : nil
        guard let request, passed.count == 3 else {
            for fd in passed { _ = close(fd) }
            return nil
        }
        return (request, passed)
    }

    private static func finishRequest(_ socket: Socket, header: inout [UInt8], have: Int) -> ControlProtocol.Request? {
        if have < header.count {
            let rest = header.withUnsafeMutableBytes {
                socket.receive(into: $0.baseAddress! + have, count: $0.count - have)
            }
            guard rest == .complete else { return nil }
        }
        guard case .success(let length) = ControlProtocol.payloadLength(header: header) else { return nil }
        var payload = [UInt8](repeating: 0, count: length)
        if length > 0 {
            let got = payload.withUnsafeMutableBytes { socket.receive(into: $0.baseAddress!, count: length) }
            guard got == .complete else { return nil }
        }
        guard case .success(let request) = ControlProtocol.decode(payload: payload, header: header) else { return nil }
        return request
    }

    /// Runs `command` on a thread of its own; meanwhile a cancel message or the end of the
    /// client's stream (it was killed, or hung up) cancels it. Returns its exit code.
    static func run(_ command: ForwardedCommand, on socket: Socket, runner: @escaping ControlServer.Runner) -> Int32 {
        var done: [Int32] = [-1, -1]
        guard pipe(&done) == 0 else {
            write("Error: cannot run the forwarded command: \(describe(errno))\n", to: command.stderr)
            return 1
        }
        defer { _ = close(done[0]) }
        let result = ExitBox()
        let signal = done[1]
        do {
            try Threads.start(name: "rdr-command") {
                result.code = runner(command)
                _ = Glibc.write(signal, [UInt8(1)], 1)
                _ = close(signal)
            }
        } catch {
            _ = close(signal)
            write("Error: cannot run the forwarded command: \(error)\n", to: command.stderr)
            return 1
        }
        watch(socket, until: done[0], cancelling: command.cancellation)
        return result.code
    }

    /// Polls the client's socket until the command signals `done`.
    private static func watch(_ socket: Socket, until done: Int32, cancelling flag: CancellationFlag) {
        var listening = true
        while true {
            var fds = [
                pollfd(fd: done, events: Int16(POLLIN), revents: 0),
                pollfd(fd: listening ? socket.fd : -1, events: Int16(POLLIN), revents: 0),
            ]
            if poll(&fds, 2, -1) < 0 { continue }  // EINTR
            if fds[0].revents != 0 { return }
            guard fds[1].revents != 0 else { continue }
            var byte = [UInt8](repeating: 0, count: 2)
            let n = recv(socket.fd, &byte, 2, Int32(MSG_DONTWAIT))
            if n < 0 && errno == EAGAIN { continue }
            if n <= 0 || byte[0] != ControlProtocol.cancelTag {
                listening = false  // gone or confused: either way nobody waits for this command
            }
            flag.cancel()
        }
    }

    /// Best effort: a message for the client's stderr.
    static func write(_ text: String, to fd: Int32) {
        let bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            done += n
        }
    }
}

/// The runner thread's exit code, read after it signalled the pipe (which orders the accesses).
private final class ExitBox: @unchecked Sendable {
    var code: Int32 = 1
}
