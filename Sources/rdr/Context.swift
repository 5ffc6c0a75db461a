import RDR
import RDRArguments

/// Options every command takes, and the system directory they resolve to (against the
/// environment's working directory).
enum Common {
    static let options = [
        OptionSpec(names: ["--system"], value: "dir", help: "System directory (default: $RDR_SYSTEM, else Images/demo)."),
        OptionSpec(names: ["--name"], value: "name", help: "Use the system Images/<name>."),
    ]

    static func systemPath(_ p: Parsed) throws -> String {
        if let dir = p.value("--system") {
            if p.has("--name") { throw p.usage("give --system or --name, not both") }
            return p.env.path(dir)
        }
        if let name = p.value("--name") {
            do { try DiskSpec.validateName(name, what: "system name") } catch { throw p.usage("--name: \(error.message)") }
            return p.env.path("Images/" + name)
        }
        if let env = p.env.variables["RDR_SYSTEM"], !env.isEmpty { return p.env.path(env) }
        return p.env.path("Images/demo")
    }

    static func open(_ p: Parsed) throws -> RDRSystem {
        try p.env.openSystem(try systemPath(p))
    }
}

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
        """
}
