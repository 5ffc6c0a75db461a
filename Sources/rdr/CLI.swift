import ActiveUpgrade
import RDR
import RDRArguments

typealias CommandSpec = RDRArguments.CommandSpec<CommandEnvironment>
typealias Parsed = RDRArguments.Parsed<CommandEnvironment>

extension RDRArguments.Parsed where Context == CommandEnvironment {
    var env: CommandEnvironment { context }
}

/// The command tree. Every command's help and parsing come from its `CommandSpec`.
enum CLI {
    static let root = CommandSpec(
        path: [],
        overview:
            "RDR — Rapid Disk Resync: split block mirrors over sparse raw images, then resync only what diverged.",
        positionals: "<subcommand>",
        options: [],
        subcommands: [
            ("demo", "Full cycle on Images/demo: split, workloads, commit resyncs, verify."),
            ("init", "Create a system of virtual disks."),
            ("status", "Mode, resync progress and members of each disk."),
            ("write", "Write bytes to a disk as one side."),
            ("read", "Read bytes from a disk as one side."),
            ("workload", "Run a write load on one side of a disk."),
            ("serve", "Serve every disk over NBD (no TLS, no authentication)."),
            ("disk", "split, merge, resync, verify (engine level, outside a session)."),
            ("check", "Readiness check (Idle)."),
            ("split", "Idle → PrepareSplit → Split."),
            ("merge", "Split → PrepareMerge → Merge."),
            ("commit", "Merge → Commit: start the commit resyncs."),
            ("abort", "Roll back to the Production Side: abort resyncs."),
            ("finish", "Commit/Abort → Idle (resyncs go on in the background)."),
            ("retry", "Re-run the request that broke."),
            ("restart", "Restart the Upgrade Side while split (a hung one is reset)."),
            ("simulate", "Rehearse a failure: crash, hang, shutdown, power-loss, split-timeout, action-signal."),
            ("log", "The activity log: text, JSON, XML."),
            ("services", "Controlled services per side."),
            ("config", "new, summary, check a configuration file."),
            ("help", "Show help for a subcommand."),
        ],
        discussion: """
            The system directory is --system, else $RDR_SYSTEM, else Images/demo.

            \(ExitCode.table)
            """)

    static let commands: [CommandSpec] =
        [
            DemoCommand.spec, InitCommand.spec, StatusCommand.spec, IOCommands.write, IOCommands.read,
            IOCommands.workload,
            DiskCommands.group, DiskCommands.split, DiskCommands.merge, DiskCommands.resync, DiskCommands.verify,
            UpgradeCommands.restart, UpgradeCommands.log, UpgradeCommands.services, UpgradeCommands.config,
            ServeCommand.spec, SimulateCommand.spec,
        ] + UpgradeCommands.specs

    /// The longest command path that prefixes `args`, and the rest.
    static func find(_ args: [String]) -> (CommandSpec, [String])? {
        var best: (CommandSpec, [String])?
        for c in commands where args.count >= c.path.count && Array(args.prefix(c.path.count)) == c.path {
            if best.map({ c.path.count > $0.0.path.count }) ?? true { best = (c, Array(args.dropFirst(c.path.count))) }
        }
        return best
    }

    /// Whether the command `args` name stops cleanly on interrupts (main then routes the signals
    /// to the cancellation flag; every other command keeps the default and dies on them).
    static func observesInterrupts(_ args: [String]) -> Bool {
        find(args)?.0.observesCancellation ?? false
    }

    /// Runs the command `env.arguments` name; the single entry, for this process and for a
    /// command forwarded to the process that owns a system.
    static func run(_ env: CommandEnvironment) -> Int32 {
        var command = root
        do {
            if let spec = try helpRequested(env.arguments) {
                env.out.line(spec.help)
                return ExitCode.success
            }
            guard let (spec, rest) = find(env.arguments) else {
                throw UsageError(message: "unknown subcommand '\(env.arguments[0])'", command: root)
            }
            command = spec
            guard let run = spec.run else {
                throw UsageError(message: "unknown subcommand '\(rest[0])'", command: spec)
            }
            return try run(try Parsed.parse(rest, spec: spec, context: env))
        } catch {
            let failure = Failure(error, command: command)
            env.err.write(failure.text)
            return failure.code
        }
    }

    /// The command whose help the arguments ask for (`rdr`, `rdr help X`, `X --help`, a group
    /// alone), nil when they ask to run one.
    static func helpRequested(_ args: [String]) throws -> CommandSpec? {
        if args.isEmpty || args == ["--help"] || args == ["-h"] { return root }
        if args[0] == "help" {
            let rest = Array(args.dropFirst())
            if rest.isEmpty { return root }
            guard let (spec, extra) = find(rest), extra.isEmpty else {
                throw UsageError(
                    message: "no help for '\(rest.joined(separator: " "))': unknown subcommand", command: root)
            }
            return spec
        }
        guard let (spec, rest) = find(args) else { return nil }
        return rest.contains("--help") || rest.contains("-h") || (spec.run == nil && rest.isEmpty) ? spec : nil
    }
}
