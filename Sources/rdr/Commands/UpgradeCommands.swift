import ActiveUpgrade
import Foundation
import RDR
import RDRArguments

/// The Active Upgrade requests: check, split, merge, commit, abort, finish, retry, restart.
enum UpgradeCommands {
    static let configOption = OptionSpec(names: ["--config"], value: "file", help: "Configuration file (.Config) to use.")

    static func request(_ r: UserRequest, overview: String, config: Bool = false, discussion: String? = nil) -> CommandSpec {
        CommandSpec(
            path: [r.rawValue], overview: overview,
            usage: "rdr \(r.rawValue) [--system <dir>]\(config ? " [--config <file>]" : "")",
            options: Common.options + (config ? [configOption] : []), discussion: discussion,
            run: { p in try run(r, p) })
    }

    static let specs: [CommandSpec] = [
        request(.check, overview: "Run the readiness check (Idle only); repeatable.", config: true),
        request(.split, overview: "Idle → PrepareSplit → Split: stop applications and services on the Upgrade Side, split the mirrors,\ncut the Upgrade Side off the data disks.", config: true),
        request(.merge, overview: "Split → PrepareMerge → Merge: stop applications on the Production Side, back up, merge the mirrors,\nstart services and applications on the Upgrade Side."),
        request(.commit, overview: "Merge → Commit: start the resyncs (system disks Upgrade → Production, data disks Production → Upgrade)."),
        request(.abort, overview: "PrepareSplit, Split, PrepareMerge or Merge → Abort: resync everything Production → Upgrade\n(from Merge, the system first restarts from the Production Side)."),
        request(.finish, overview: "Commit or Abort → Idle; the resyncs go on in the background."),
        request(.retry, overview: "Re-run the request that broke (from the step that failed)."),
    ]

    /// A controller whose background resyncs are a detached `rdr disk resync --all`.
    static func controller(_ system: RDRSystem) -> UpgradeController {
        UpgradeController(system: system, command: Common.commandLine) { system in
            let lock = try system.lock(command: "rdr disk resync --all (started by \(Common.commandLine))")
            defer { lock.release() }
            _ = try Background.spawn(system: system, lock: lock, jobs: nil, passing: nil)
        }
    }

    static func run(_ r: UserRequest, _ p: Parsed) throws -> Int32 {
        try p.noMorePositionals(than: 0)
        let system = try Common.open(p)
        var configPath = p.value("--config")
        if let c = configPath {
            configPath = c.hasPrefix("/") ? c : FileManager.default.currentDirectoryPath + "/" + c
            _ = try Configuration.load(configPath ?? c)
        }
        let ctl = controller(system)
        do {
            let s = try ctl.perform(r, configPath: configPath)
            Terminal.out(s.statusBar)
            if r == .check { Terminal.out("Readiness check passed") }
            return ExitCode.success
        } catch {
            if let s = try? ctl.store.current() { Terminal.out(s.statusBar) }
            throw error
        }
    }

    static let restart = CommandSpec(
        path: ["restart"],
        overview: "Restart a side: 'upgrade' while split (partner OS Rebooting → OS Up); 'production' is refused while split.",
        usage: "rdr restart upgrade|production [--system <dir>]",
        arguments: [("upgrade|production", "The side to restart.")],
        options: Common.options,
        run: { p in
            let which = try p.positional(0, "upgrade|production")
            try p.noMorePositionals(than: 1)
            guard let side = Side(rawValue: which) else { throw p.usage("restart takes upgrade or production, not '\(which)'") }
            let s = try controller(try Common.open(p)).restart(side)
            Terminal.out(s.statusBar)
            return ExitCode.success
        })

    static let log = CommandSpec(
        path: ["log"],
        overview: "Show the activity log (text, JSON or XML).",
        usage: "rdr log [--system <dir>] [--json | --xml <file>] [--severity <level>]",
        options: Common.options + [
            OptionSpec(names: ["--json"], value: nil, help: "Print the entries as a JSON array."),
            OptionSpec(names: ["--xml"], value: "file", help: "Save the log as XML to this file."),
            OptionSpec(names: ["--severity"], value: "level", help: "Only Success, Pending, Information, Warning or Error entries\n(with their parents)."),
        ],
        run: { p in
            try p.noMorePositionals(than: 0)
            let system = try Common.open(p)
            var severity: Severity?
            if let text = p.value("--severity") {
                guard let s = Severity(text: text) else { throw p.usage("--severity must be Success, Pending, Information, Warning or Error") }
                severity = s
            }
            let entries = LogFormat.filtered(ActivityLog(systemPath: system.path).entries, severity: severity)
            if let file = p.value("--xml") {
                do { try LogFormat.xml(entries).write(toFile: file, atomically: true, encoding: .utf8) } catch {
                    throw RDRError(.io, "cannot write \(file): \(error.localizedDescription)")
                }
                Terminal.out("saved \(entries.count) entries to \(file)")
            } else if p.has("--json") {
                Terminal.out(LogFormat.json(entries))
            } else {
                Terminal.write(LogFormat.text(entries))
            }
            return ExitCode.success
        })

    static let services = CommandSpec(
        path: ["services"],
        overview: "Each controlled service per side: running or stopped, and its startup type.",
        usage: "rdr services [--system <dir>] [--json]",
        options: Common.options + [OptionSpec(names: ["--json"], value: nil, help: "Print JSON.")],
        run: { p in
            try p.noMorePositionals(than: 0)
            let model = try SystemModel.load(try Common.open(p))
            if p.has("--json") {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                Terminal.out(String(decoding: try encoder.encode(model.services), as: UTF8.self))
            } else {
                Terminal.out("SERVICE          PRODUCTION SIDE          UPGRADE SIDE")
                for s in model.services {
                    func cell(_ x: SystemModel.ServiceSide) -> String { "\(x.running ? "running" : "stopped") (\(x.startupType.rawValue))".padding(toLength: 25, withPad: " ", startingAt: 0) }
                    Terminal.out(s.name.padding(toLength: 17, withPad: " ", startingAt: 0) + cell(s.production) + cell(s.upgrade))
                }
            }
            return ExitCode.success
        })

    static let config = CommandSpec(
        path: ["config"],
        overview: "Create, summarize or check a configuration file (.Config, JSON).",
        usage: "rdr config new|summary|check <file>",
        arguments: [("new <file>", "Write a commented template."), ("summary <file>", "The effective configuration and each item's file."), ("check <file>", "Validate; exit 0 when valid.")],
        options: [],
        run: { p in
            let verb = try p.positional(0, "new|summary|check")
            let file = try p.positional(1, "<file>")
            try p.noMorePositionals(than: 2)
            switch verb {
            case "new":
                guard file.hasSuffix(".Config") else { throw RDRError(.invalidArgument, "configuration file names end in .Config, not '\(file)'") }
                guard !FileManager.default.fileExists(atPath: file) else { throw RDRError(.invalidState, "\(file) already exists; pick another name") }
                do { try Configuration.template.write(toFile: file, atomically: true, encoding: .utf8) } catch {
                    throw RDRError(.io, "cannot write \(file): \(error.localizedDescription)")
                }
                Terminal.out("wrote \(file)")
            case "summary":
                Terminal.write(try Configuration.load(file).summary)
            case "check":
                let c = try Configuration.load(file)
                Terminal.out("\(file): valid (\(c.files.count) file(s), \(c.services.count) service(s), \(c.customActions.count) custom action(s))")
            default:
                throw p.usage("config takes new, summary or check, not '\(verb)'")
            }
            return ExitCode.success
        })
}
