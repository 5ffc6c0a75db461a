import Glibc
import RDR
import RDRArguments

/// Exit codes (sysexits where one fits).
enum ExitCode {
    static let success: Int32 = 0
    static let failure: Int32 = 1
    /// verify found members that differ.
    static let differences: Int32 = 2
    static let usage: Int32 = 64
    static let dataError: Int32 = 65
    static let busy: Int32 = 75
    static let accessRefused: Int32 = 77
    static let interrupted: Int32 = 130
    /// The reader of standard output went away: the status of a death by SIGPIPE, which is how
    /// `rdr read | head` ends without an owner (an owner ignores SIGPIPE and sees EPIPE, and its
    /// client then dies of SIGPIPE itself, so both look the same to the shell).
    static let readerGoneStatus: Int32 = 128 + SIGPIPE
    static let readerGone = RDRError(.io, "standard output's reader went away")

    static func of(_ kind: RDRError.Kind) -> Int32 {
        switch kind {
        case .invalidArgument: return usage
        case .invalidState, .io: return failure
        case .accessRefused: return accessRefused
        case .busy: return busy
        case .corrupt: return dataError
        case .interrupted: return interrupted
        }
    }

    static let table = """
        EXIT CODES:
          0    success
          1    runtime failure (a state that does not allow the request, an I/O error)
          2    verify found members that differ
          64   usage error (unknown disk, side or option; a number outside its range; offset past
               the end; bad size)
          65   metadata or images missing, corrupt, stale, from another disk, not regular files
               of their own, or not the files the metadata recorded (swapped, replaced, copied)
          75   another rdr process is changing the system (the message names it)
          77   the side has no access to the disk in the current state
          130  interrupted by SIGINT, SIGTERM or SIGHUP (the work done so far is kept and resumes)
          141  killed by SIGPIPE: the reader of standard output went away (rdr read | head)
        """
}

/// The one place that maps any error to what the user reads and the exit code: a usage error
/// and a bad argument come with the command's usage line, everything else is one line.
struct Failure {
    let text: String
    let code: Int32

    init(_ error: any Error, command spec: CommandSpec) {
        switch error {
        case let e as UsageError:
            text = Self.withUsage(e.message, usage: e.usage, name: e.commandName)
            code = ExitCode.usage
        case let e as RDRError where e == ExitCode.readerGone:
            text = ""
            code = ExitCode.readerGoneStatus
        case let e as RDRError:
            text =
                e.kind == .invalidArgument
                ? Self.withUsage(e.message, usage: spec.usage, name: spec.name) : "Error: \(e.message)\n"
            code = ExitCode.of(e.kind)
        default:
            text = "Error: \(error)\n"
            code = ExitCode.failure
        }
    }

    static func withUsage(_ message: String, usage: String, name: String) -> String {
        "Error: \(message)\nUsage: \(usage)\nSee '\(name) --help'\n"
    }
}
