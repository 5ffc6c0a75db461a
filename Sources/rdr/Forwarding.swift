import Dispatch
import Glibc
import RDR
import RDRArguments
import RDRServer

/// The client's side of ownership (see `ControlProtocol`): a command aimed at a system that has
/// a live owner (`rdr serve`, a background resync worker) runs in the owner, which holds the
/// lock, with this process's stdin, stdout and stderr; this process only waits for its exit code
/// and passes Ctrl-C on. With no owner the command runs here, as it always did.
enum Forwarding {
    /// Commands that always run here: they take no lock (status, log, config, help), or they
    /// conflict with an owner by nature and the lock refuses them naming it (serve, init, demo).
    static let local: Set<String> = ["status", "log", "config", "help", "serve", "init", "demo"]

    /// The exit code of `env`'s command as the owner of its system ran it, or nil when it is to
    /// run in this process.
    static func run(_ env: CommandEnvironment) -> Int32? {
        guard let systemPath = target(env), ControlClient.ownerIsLive(systemPath: systemPath) else { return nil }
        var request = ControlProtocol.Request(
            arguments: env.arguments, workingDirectory: env.workingDirectory, variables: env.variables,
            fileMask: UInt16(env.fileMask))
        // Commands that stop cleanly get Ctrl-C passed on; the others die of it here, as they
        // would without an owner (the owner then sees the client go).
        let interrupt = CLI.observesInterrupts(env.arguments) ? InterruptPipe.install() : nil
        // A descriptor this process was started without cannot be passed: /dev/null stands in,
        // and the request says it is closed.
        var descriptors: [Int32] = []
        for (i, fd) in [env.stdin, STDOUT_FILENO, STDERR_FILENO].enumerated() {
            guard fcntl(fd, F_GETFD) < 0 else {
                descriptors.append(fd)
                continue
            }
            request.closedStreams |= 1 << i
            descriptors.append(open("/dev/null", O_RDWR | O_CLOEXEC))
        }
        // An owner that is exiting closes connections it has not admitted: ask again (bounded),
        // then run here, where the lock decides.
        for _ in 0..<50 {
            do {
                switch try ControlClient.forward(
                    systemPath: systemPath, request: request,
                    descriptors: descriptors, interrupt: interrupt)
                {
                case .exited(ExitCode.readerGoneStatus):
                    // Die of it as this process would have, writing to the same pipe.
                    signal(SIGPIPE, SIG_DFL)
                    raise(SIGPIPE)
                    return ExitCode.readerGoneStatus
                case .exited(let code): return code
                case .noOwner: return nil
                case .notAdmitted: usleep(100_000)
                }
            } catch {
                env.err.line("Error: \(error.message)")
                return ExitCode.of(error.kind)
            }
        }
        return nil
    }

    /// The system directory of a command that forwards, or nil.
    private static func target(_ env: CommandEnvironment) -> String? {
        let args = env.arguments
        guard let first = args.first, !local.contains(first), env.workingDirectory.hasPrefix("/"),
            !args.contains("--help"), !args.contains("-h"), !args.contains("--detached-child"),
            let (spec, rest) = CLI.find(args), spec.run != nil,
            let parsed = try? Parsed.parse(rest, spec: spec, context: env)
        else { return nil }
        return try? Common.systemPath(parsed)
    }
}

/// SIGINT, SIGTERM and SIGHUP as bytes (the signal number) on a pipe the forwarding client
/// polls beside its socket.
enum InterruptPipe {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    static func install() -> Int32? {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return nil }
        let writeEnd = fds[1]
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                var byte = UInt8(sig)
                _ = write(writeEnd, &byte, 1)
            }
            source.resume()
            sources.append(source)
        }
        return fds[0]
    }
}
