import ActiveUpgrade
import Foundation
import RDR
import RDRArguments

/// The command tree. Every command's help and parsing come from its `CommandSpec`.
enum CLI {
    static let root = CommandSpec(
        path: [],
        overview: "RDR — Rapid Disk Resync: split block mirrors over sparse raw images, then resync only what diverged.",
        usage: "rdr <subcommand>",
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

    static let commands: [CommandSpec] = [
        DemoCommand.spec, InitCommand.spec, StatusCommand.spec, IOCommands.write, IOCommands.read, IOCommands.workload,
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

    static func main(_ args: [String]) -> Int32 {
        if args.isEmpty || args == ["--help"] || args == ["-h"] {
            Terminal.out(root.help)
            return ExitCode.success
        }
        if args[0] == "help" {
            let rest = Array(args.dropFirst())
            if rest.isEmpty { Terminal.out(root.help); return ExitCode.success }
            guard let (c, extra) = find(rest), extra.isEmpty else {
                return usageFailure(UsageError(message: "no help for '\(rest.joined(separator: " "))': unknown subcommand", command: root))
            }
            Terminal.out(c.help)
            return ExitCode.success
        }
        guard let (spec, rest) = find(args) else {
            return usageFailure(UsageError(message: "unknown subcommand '\(args[0])'", command: root))
        }
        if rest.contains("--help") || rest.contains("-h") || spec.run == nil {
            if spec.run == nil && !rest.isEmpty && !rest.contains("--help") && !rest.contains("-h") {
                return usageFailure(UsageError(message: "unknown subcommand '\(rest[0])'", command: spec))
            }
            Terminal.out(spec.help)
            return ExitCode.success
        }
        do {
            let parsed = try Parsed.parse(rest, spec: spec)
            return try spec.run?(parsed) ?? ExitCode.success
        } catch let e as UsageError {
            return usageFailure(e)
        } catch let e as RDRError {
            Terminal.err("Error: \(e.message)")
            if e.kind == .invalidArgument {
                Terminal.err("Usage: \(spec.usage)")
                Terminal.err("See '\(spec.name) --help'")
            }
            return ExitCode.of(e.kind)
        } catch {
            Terminal.err("Error: \(error)")
            return ExitCode.failure
        }
    }

    static func usageFailure(_ e: UsageError) -> Int32 {
        let spec = e.command ?? root
        Terminal.err("Error: \(e.message)")
        Terminal.err("Usage: \(spec.usage)")
        Terminal.err("See '\(spec.name) --help'")
        return ExitCode.usage
    }
}

exit(CLI.main(Array(CommandLine.arguments.dropFirst())))
