import CRDRSys
import Glibc
import RDR

/// A command received on the control socket, as the owner runs it: the client's arguments,
/// working directory and variables, its own stdin/stdout/stderr (owned by the server, closed
/// after the runner returns), and a flag its Ctrl-C or disconnection sets.
public struct ForwardedCommand: Sendable {
    public let request: ControlProtocol.Request
    public let stdin: Int32
    public let stdout: Int32
    public let stderr: Int32
    public let cancellation: CancellationFlag
    public let clientPID: Int32
}

/// The owner's half of the control protocol (see `ControlProtocol`): listens on
/// `<system>/.rdr.control`, runs each request with `runner` on a thread of its own, at most
/// `maxCommands` at once (more are refused, exit 75), and sends back the exit code.
///
/// `@unchecked Sendable`: `running`, `nextID`, `connections` and `cancelAll` change only with
/// `state` held.
public final class ControlServer: @unchecked Sendable {
    public typealias Runner = @Sendable (ForwardedCommand) -> Int32

    public let systemPath: String
    private let listener: Listener
    private let runner: Runner
    private let owner: OwnedSystem?
    private let maxCommands: Int
    private let handshakeSeconds: Double
    private let state = ConditionLock()
    private var running: [Int: CancellationFlag] = [:]
    private var nextID = 0
    private var connections = 0
    /// Set by a cancelling stop: a command admitted afterwards starts cancelled.
    private var cancelAll = false

    /// Listens on the control socket of the system at `systemPath` (a stale socket a killed
    /// owner left is replaced) and starts accepting. `owner` learns of connected clients, so a
    /// background worker does not exit under one.
    public init(
        systemPath: String, owner: OwnedSystem?, maxCommands: Int = 16, handshakeSeconds: Double = 5,
        runner: @escaping Runner
    ) throws(RDRError) {
        self.systemPath = systemPath
        self.runner = runner
        self.owner = owner
        self.maxCommands = maxCommands
        self.handshakeSeconds = handshakeSeconds
        listener = try Self.listen(systemPath: systemPath)
        let listener = self.listener
        do {
            try Threads.start(name: "rdr-control") { [self] in
                while let client = listener.accept() { accepted(client.fd) }
            }
        } catch {
            listener.close()
            throw RDRError(.io, "cannot start the control socket's thread: \(error)")
        }
    }

    private static func listen(systemPath: String) throws(RDRError) -> Listener {
        let path = ControlSocketAddress.path(system: systemPath)
        if let live = ControlSocketAddress.connect(system: systemPath) {
            _ = close(live)
            throw RDRError(.busy, "system \(systemPath) already has an owner listening on \(path)")
        }
        _ = unlink(path)  // a killed owner's socket: nobody accepts on it
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RDRError(.io, "cannot create the control socket: \(describe(errno))") }
        let bound = ControlSocketAddress.with(system: systemPath) { bind(fd, $0, $1) == 0 ? 0 : -errno }
        // Mode 0600 before listen(), so nobody connects while the mode still comes from the umask.
        guard bound == 0, chmod(path, 0o600) == 0, Glibc.listen(fd, 64) == 0 else {
            let e = bound < 0 ? -bound : errno
            _ = close(fd)
            if bound == 0 { _ = unlink(path) }
            throw RDRError(.io, "cannot listen on the control socket \(path): \(describe(e))")
        }
        return Listener(fd: fd, address: "unix:" + path, uriTemplate: "", unlinkPath: path)
    }

    /// Forwarded commands running now.
    public var runningCount: Int { state.withLock { running.count } }

    /// Stops accepting and removes the socket file; with `cancelling`, cancels the forwarded
    /// commands (their clients get exit 130: `rdr serve` stopping), without, lets them finish
    /// (a background worker done with its work). Waits up to `patience` seconds for them.
    public func stop(cancelling: Bool = true, patience: Double = 60) {
        state.withLock {
            if cancelling {
                cancelAll = true
                for flag in running.values { flag.cancel() }
            }
        }
        listener.stop()
        listener.close()
        state.withLock {
            let deadline = Monotonic.now() + patience
            while connections > 0 && Monotonic.now() < deadline { state.wait(seconds: 0.1) }
        }
    }

    private func accepted(_ fd: Int32) {
        // Connections that never send their request would otherwise pile up threads.
        let admitted = state.withLock { () -> Bool in
            guard connections < maxCommands * 4 else { return false }
            connections += 1
            return true
        }
        guard admitted else {
            _ = close(fd)
            return
        }
        owner?.clientConnected(true)
        do {
            try Threads.start(name: "rdr-forwarded") { [self] in
                serve(fd)
                ended()
            }
        } catch {
            _ = close(fd)
            ended()
        }
    }

    private func ended() {
        owner?.clientConnected(false)
        state.withLock {
            connections -= 1
            state.broadcast()
        }
    }

    /// One client, from its request to its exit code. Nothing runs for a client that is not
    /// this user (or root), or whose request is malformed or comes too late.
    private func serve(_ fd: Int32) {
        defer { _ = close(fd) }
        var pid: Int32 = 0
        var uid: UInt32 = 0
        guard rdr_peer_credentials(fd, &pid, &uid) == 0, uid == geteuid() || uid == 0 else { return }
        let socket = Socket(fd: fd)
        socket.setTimeouts(receive: handshakeSeconds, send: handshakeSeconds)
        guard let (request, fds) = ControlConnection.receiveRequest(socket) else { return }
        socket.setTimeouts(receive: nil, send: handshakeSeconds)
        let cancellation = CancellationFlag()
        let command = ForwardedCommand(
            request: request, stdin: fds[0], stdout: fds[1], stderr: fds[2],
            cancellation: cancellation, clientPID: pid)
        let code =
            admit(cancellation).map { id in
                defer { finish(id) }
                guard socket.sendAll([ControlProtocol.acceptedTag]) == 0 else { return 130 }
                return ControlConnection.run(command, on: socket, runner: runner)
            } ?? refuse(command)
        for passed in fds { _ = close(passed) }
        _ = socket.sendAll(ControlProtocol.exitFrame(code))
    }

    /// A slot for a command; nil beyond `maxCommands`. A stopping server still admits the
    /// clients it had accepted: they connected while it was live.
    private func admit(_ flag: CancellationFlag) -> Int? {
        state.withLock {
            guard running.count < maxCommands else { return nil }
            if cancelAll { flag.cancel() }
            nextID += 1
            running[nextID] = flag
            return nextID
        }
    }

    private func finish(_ id: Int) { _ = state.withLock { running.removeValue(forKey: id) } }

    private func refuse(_ command: ForwardedCommand) -> Int32 {
        let why =
            "its owner (pid \(getpid())) is running \(maxCommands) forwarded commands already; wait for one to finish"
        ControlConnection.write("Error: system \(systemPath) is busy: \(why)\n", to: command.stderr)
        return 75
    }
}
