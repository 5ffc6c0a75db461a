import CRDRSys
import Glibc
import RDR

/// The client's half of the control protocol (see `ControlProtocol`): hands a command and this
/// process's stdin/stdout/stderr to the owner of a system and waits for its exit code.
public enum ControlClient {
    /// True when a live owner listens on the control socket of the system at `systemPath`.
    public static func ownerIsLive(systemPath: String) -> Bool {
        guard let fd = ControlSocketAddress.connect(system: systemPath) else { return false }
        _ = close(fd)
        return true
    }

    public enum Outcome: Equatable, Sendable {
        /// No owner listens (none, or a killed owner's stale socket): run the command yourself.
        case noOwner
        /// The owner closed the connection before admitting the command (it was exiting):
        /// nothing ran; try again.
        case notAdmitted
        /// The command ran in the owner and exited with this code.
        case exited(Int32)
    }

    /// Runs `request` in the owner of the system at `systemPath` with `descriptors` as its
    /// stdin, stdout and stderr. Each byte that becomes readable on `interrupt` (a signal
    /// number, written by the caller's signal handler) is sent as a cancel. Throws when the
    /// owner goes away after admitting the command and before answering.
    public static func forward(
        systemPath: String, request: ControlProtocol.Request,
        descriptors: [Int32] = [0, 1, 2], interrupt: Int32? = nil
    ) throws(RDRError) -> Outcome {
        guard descriptors.count == 3 else {
            throw RDRError(.invalidArgument, "a forwarded command needs stdin, stdout and stderr")
        }
        guard let fd = ControlSocketAddress.connect(system: systemPath) else { return .noOwner }
        defer { _ = close(fd) }
        let bytes = ControlProtocol.encode(request)
        guard bytes.count <= ControlProtocol.headerSize + ControlProtocol.maxRequestBytes else {
            throw RDRError(
                .invalidArgument,
                "the command line and environment are \(bytes.count) bytes, more than the owner of \(systemPath) accepts (\(ControlProtocol.maxRequestBytes))"
            )
        }
        let sent = bytes.withUnsafeBytes { raw in
            rdr_send_with_fds(fd, raw.baseAddress, UInt64(raw.count), descriptors, 3)
        }
        let socket = Socket(fd: fd)
        guard sent > 0, Int(sent) == bytes.count || socket.sendAll(Array(bytes[Int(sent)...])) == 0 else {
            return .notAdmitted
        }
        var first: UInt8 = 0
        switch socket.receive(into: &first, count: 1) {
        case .complete: break
        default: return .notAdmitted
        }
        if first == ControlProtocol.acceptedTag {
            return .exited(try awaitExit(socket, interrupt: interrupt, systemPath: systemPath))
        }
        // Refused before running (too many commands): the exit frame follows at once.
        var code = [UInt8](repeating: 0, count: 4)
        guard first == ControlProtocol.exitTag,
            code.withUnsafeMutableBytes({ socket.receive(into: $0.baseAddress!, count: 4) }) == .complete
        else {
            throw ownerGone(systemPath)
        }
        return .exited(Int32(bitPattern: ControlProtocol.readUInt32([0] + code, at: 1)))
    }

    /// Waits for the exit frame, passing interrupts on as cancel messages.
    private static func awaitExit(_ socket: Socket, interrupt: Int32?, systemPath: String) throws(RDRError) -> Int32 {
        while true {
            var fds = [
                pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: interrupt ?? -1, events: Int16(POLLIN), revents: 0),
            ]
            if poll(&fds, 2, -1) < 0 { continue }  // EINTR
            if fds[1].revents != 0 {
                var signal: UInt8 = 0
                if read(interrupt ?? -1, &signal, 1) == 1 {
                    _ = socket.sendAll([ControlProtocol.cancelTag, signal])
                }
            }
            guard fds[0].revents != 0 else { continue }
            var frame = [UInt8](repeating: 0, count: 5)
            let got = frame.withUnsafeMutableBytes { socket.receive(into: $0.baseAddress!, count: 5) }
            guard got == .complete, frame[0] == ControlProtocol.exitTag else { throw ownerGone(systemPath) }
            return Int32(bitPattern: ControlProtocol.readUInt32(frame, at: 1))
        }
    }

    private static func ownerGone(_ systemPath: String) -> RDRError {
        RDRError(
            .io,
            "the owner of system \(systemPath) went away before the command finished; "
                + "see 'rdr status' for what it left, and run the command again")
    }
}
