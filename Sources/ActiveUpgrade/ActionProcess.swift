import CRDRSys
import FoundationEssentials
import Glibc
import RDR

/// One custom action as a child process in a process group of its own, so a timeout or a stop
/// reaches everything it started: the group gets SIGTERM, then SIGKILL after a grace period.
/// Output goes to files (never a pipe a daemon could keep open), so the request ends when the
/// action itself exits. All waiting happens on the calling thread (never the concurrency pool).
enum ActionProcess {
    enum End: Equatable {
        case exited(Int32)
        case signaled(Int32)
        case timedOut
        case interrupted
        case notStarted(Int32)
    }

    /// How long a stopped action's group gets between SIGTERM and SIGKILL.
    static let grace = 3.0

    struct Launch {
        var file: String
        var arguments: [String]
        var environment: [String: String]
        var stdout: Int32
        var stderr: Int32
        var deadline: Double
        var cancel: CancellationFlag?
        /// A signal the action receives before it runs (`rdr simulate action-signal`).
        var signalAtStart: Int32?
        /// Where and with which umask the action starts, when not this process's (a request
        /// an owner runs for a client).
        var directory: String?
        var fileMask: mode_t?
        var started: (pid_t) -> Void
    }

    static func run(_ l: Launch) -> End {
        let pid = spawn(l)
        guard pid > 0 else { return .notStarted(-pid) }
        l.started(pid)
        var pause: useconds_t = 1_000
        while true {
            let ended = rdr_child_ended(pid)
            if ended != 0 { return ended > 0 ? decode(rdr_reap(pid)) : .notStarted(-ended) }
            if l.cancel?.isCancelled == true {
                stop(pid)
                return .interrupted
            }
            if Monotonic.now() >= l.deadline {
                stop(pid)
                return .timedOut
            }
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
    }

    private static func spawn(_ l: Launch) -> Int32 {
        let argv = [l.file] + l.arguments
        let env = l.environment.map { "\($0.key)=\($0.value)" }
        var cargv: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var cenv: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer { for p in cargv + cenv { free(p) } }
        guard l.signalAtStart == nil && l.directory == nil && l.fileMask == nil else {
            return rdr_spawn_action_in(
                l.file, &cargv, &cenv, l.stdout, l.stderr, l.signalAtStart ?? 0, l.directory,
                l.fileMask.map { Int32($0) } ?? -1)
        }
        return rdr_spawn_action(l.file, &cargv, &cenv, l.stdout, l.stderr)
    }

    /// TERM to the whole group, a grace period, then KILL to whatever is left. The leader is
    /// reaped only after the KILL, so its pid (and the group id) cannot be reused meanwhile.
    static func stop(_ pid: pid_t) {
        kill(-pid, SIGTERM)
        let end = Monotonic.now() + grace
        while rdr_child_ended(pid) == 0 && Monotonic.now() < end { usleep(10_000) }
        kill(-pid, SIGKILL)
        _ = rdr_reap(pid)
    }

    static func decode(_ status: Int32) -> End {
        if status < 0 { return .notStarted(-status) }
        let sig = status & 0x7f
        return sig == 0 ? .exited((status >> 8) & 0xff) : .signaled(sig)
    }
}

/// Signal names as users write them (`TERM`, `SIGTERM`, `15`) and as messages print them.
public enum SignalName {
    static let table: [(Int32, String)] = [
        (SIGHUP, "SIGHUP"), (SIGINT, "SIGINT"), (SIGQUIT, "SIGQUIT"), (SIGILL, "SIGILL"), (SIGTRAP, "SIGTRAP"),
        (SIGABRT, "SIGABRT"), (SIGBUS, "SIGBUS"), (SIGFPE, "SIGFPE"), (SIGKILL, "SIGKILL"), (SIGUSR1, "SIGUSR1"),
        (SIGSEGV, "SIGSEGV"), (SIGUSR2, "SIGUSR2"), (SIGPIPE, "SIGPIPE"), (SIGALRM, "SIGALRM"), (SIGTERM, "SIGTERM"),
    ]

    public static func name(_ sig: Int32) -> String { table.first { $0.0 == sig }?.1 ?? "signal \(sig)" }

    public static func parse(_ text: String) -> Int32? {
        let t = text.uppercased()
        if let n = Int32(t), table.contains(where: { $0.0 == n }) { return n }
        return table.first { $0.1 == t || $0.1 == "SIG" + t }?.0
    }
}
