import Glibc
import RDR
import RDRServer
import Synchronization

/// The owner's side: a process that holds a system's lock for a long time (`rdr serve`, a
/// background resync worker) registers as its owner and runs the commands other `rdr`
/// processes forward, through the very `CLI.run` they would have run themselves.
final class OwnerRuntime: Sendable {
    let owned: OwnedSystem
    let control: ControlServer
    private let stopped = Atomic<Bool>(false)

    private init(owned: OwnedSystem, control: ControlServer) {
        self.owned = owned
        self.control = control
    }

    /// Registers this process as the owner of `system`, whose lock it holds, and opens the
    /// control socket.
    static func start(system: RDRSystem, lock: SystemLock) throws -> OwnerRuntime {
        // A forwarded command writes to its caller's stdout; a caller whose reader went away
        // must cost that command an EPIPE, not the owner its life.
        signal(SIGPIPE, SIG_IGN)
        let owned = try SystemOwnership.shared.register(system, lock: lock)
        do {
            let control = try ControlServer(systemPath: system.path, owner: owned) { command in
                settle(owned)
                return CLI.run(environment(for: command))
            }
            return OwnerRuntime(owned: owned, control: control)
        } catch {
            owned.resign()
            throw error
        }
    }

    /// Flushes the disks clients have been writing, so a forwarded command finds them as a
    /// client's FLUSH leaves them: NBD writes clear their duplex bits lazily (at most every
    /// 5 s), and a readiness check must not take a live write for an interrupted one. Only
    /// duplex disks: nothing else has such bits, and a flush waits for the whole disk, which a
    /// running resync would hold it from for as long as it runs. Best effort: a disk that
    /// cannot flush shows its state to the command as it is.
    static func settle(_ owned: OwnedSystem) {
        for disk in owned.openDisks where disk.record.mode == .duplex { try? disk.flush() }
    }

    /// The environment of a forwarded command: the client's arguments, directory, variables
    /// and descriptors, and a cancellation its Ctrl-C sets.
    static func environment(for command: ForwardedCommand) -> CommandEnvironment {
        // A stream the client was started without is closed here too (-1), not /dev/null.
        func stream(_ fd: Int32, _ bit: UInt8) -> Int32 { command.request.closedStreams & 1 << bit != 0 ? -1 : fd }
        var env = CommandEnvironment(
            arguments: command.request.arguments, workingDirectory: command.request.workingDirectory,
            variables: command.request.variables, stdin: stream(command.stdin, 0),
            out: .fileDescriptor(stream(command.stdout, 1)), err: .fileDescriptor(stream(command.stderr, 2)),
            cancellation: command.cancellation)
        if let mask = command.request.fileMask { env.fileMask = mode_t(mask) }
        return env
    }

    /// `rdr serve` stopping: no new commands, running ones and resyncs cancelled (resyncs
    /// checkpoint and resume later), all waited for; then the ownership ends.
    func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        control.stop(cancelling: true)
        owned.cancelResyncs()
        owned.waitUntilIdle(unless: CancellationFlag())
        owned.resign()
    }

    /// A background worker whose own work is done: it stays while clients are connected or
    /// resyncs they started run, then ends its ownership. `interrupt` (SIGTERM) cuts it short.
    func finishWhenIdle(unless interrupt: CancellationFlag) {
        owned.waitUntilIdle(unless: interrupt)
        if interrupt.isCancelled {
            stop()
            return
        }
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        control.stop(cancelling: false)
        owned.waitUntilIdle(unless: interrupt)
        owned.resign()
    }

    /// `--background` inside an owner: the resyncs run as threads of this process (a child
    /// could not take the lock the owner holds). Their summaries go to `logPath`, as a
    /// detached worker's output does.
    static func startBackground(
        _ owned: OwnedSystem, jobs: [(String, Enclosure)], options: ResyncOptions, logPath: String
    ) throws {
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard log >= 0 else { throw RDRError(.io, "cannot open \(logPath) for the background resync's output") }
        let out = OutputStream.fileDescriptor(log)
        let ended = CancellationFlag()
        do {
            try owned.startBackgroundResyncs(
                jobs, options: options,
                report: { _, outcome in
                    switch outcome {
                    case .success(let summary): out.line(DiskCommands.describe(summary))
                    case .failure(let error): out.line("Error: \(error.message)")
                    }
                },
                done: {
                    close(log)
                    ended.cancel()
                })
        } catch {
            close(log)
            throw error
        }
        awaitRunning(owned.system, disks: jobs.map(\.0)) { ended.isCancelled }
    }

    /// Waits (at most 10 s) until one of `disks` shows a running resync or `ended()` says the
    /// work is over, so that a `--background` that has returned is followed by a
    /// `status --watch` that sees the resync, not the moment before it began.
    static func awaitRunning(_ system: RDRSystem, disks: [String], ended: () -> Bool) {
        let deadline = Monotonic.now() + 10
        while Monotonic.now() < deadline && !ended() {
            if let status = try? system.status(disks: disks),
                status.disks.contains(where: { $0.resync?.running == true })
            {
                return
            }
            usleep(10_000)
        }
    }
}
