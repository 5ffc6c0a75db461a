import ActiveUpgrade
import FoundationEssentials
import Glibc
import RDR
import RDRArguments

/// The Active Upgrade requests: check, split, merge, commit, abort, finish, retry, restart.
enum UpgradeCommands {
    static let configOptions = [
        OptionSpec(
            names: ["--config"], value: "file",
            help:
                "Configuration file (.Config) to use; without it, the one of the last\nsession (the user's file) is used again.",
            exclusive: "config"),
        OptionSpec(
            names: ["--no-config"], value: nil,
            help: "Forget the remembered configuration: no services or custom actions.", exclusive: "config"),
    ]
    static let autoRecoverOption = OptionSpec(
        names: ["--auto-recover"], value: "policy",
        help:
            "abort, retry or none: what to do first with a request whose process\ndied mid-step (default: the configuration's autoRecover, else abort\nbefore Commit and retry from Commit on)."
    )
    static let forceOption = OptionSpec(
        names: ["--force"], value: nil,
        help:
            "Stop a running request (SIGTERM, then SIGKILL, its custom action's\nprocess group too) and abort; failing custom actions are logged\nand skipped. Works from Abort|Broken as well."
    )

    static let retryForceOption = OptionSpec(
        names: ["--force"], value: nil,
        help:
            "Log failing custom actions as Error (with their output) and go on:\nthe way out of a commit or finish broken by an action."
    )

    static func request(_ r: UserRequest, overview: String, options extra: [OptionSpec] = [], discussion: String? = nil)
        -> CommandSpec
    {
        CommandSpec(
            path: [r.rawValue], overview: overview,
            options: Common.options + extra + [autoRecoverOption], discussion: discussion ?? recoveryNote,
            observesCancellation: true, run: { p in try run(r, p) })
    }

    static let recoveryNote = """
        A request whose process died mid-step (killed, machine restarted) is completed first by the
        auto-recovery policy, and the command says so. A request stopped by SIGINT/SIGTERM exits 130
        and waits Broken for 'rdr retry' or 'rdr abort'.
        """

    static let specs: [CommandSpec] = [
        request(.check, overview: "Run the readiness check (Idle only); repeatable.", options: configOptions),
        request(
            .split,
            overview:
                "Idle → PrepareSplit → Split: stop applications and services on the Upgrade Side, split the mirrors,\ncut the Upgrade Side off the data disks (breaks after splitTimeoutSeconds, default 300).",
            options: configOptions),
        request(
            .merge,
            overview:
                "Split → PrepareMerge → Merge: stop applications on the Production Side, back up, merge the mirrors,\nstart services and applications on the Upgrade Side."
        ),
        request(
            .commit,
            overview:
                "Merge → Commit: start the resyncs (system disks Upgrade → Production, data disks Production → Upgrade)."
        ),
        request(
            .abort,
            overview:
                "PrepareSplit, Split, PrepareMerge or Merge → Abort: resync everything Production → Upgrade\n(from Merge, the system first restarts from the Production Side).",
            options: [forceOption]),
        request(
            .finish,
            overview:
                "Commit or Abort → Idle; the resyncs go on in the background; disk roles and the\nconfiguration return to what they were before the session."
        ),
        request(
            .retry, overview: "Re-run the request that broke (from the step that failed).", options: [retryForceOption]),
    ]

    /// A controller whose background resyncs are a detached `rdr disk resync --all`.
    static func controller(_ system: RDRSystem, _ env: CommandEnvironment) -> UpgradeController {
        let controller = UpgradeController(
            system: system, command: env.commandLine, cancellation: env.cancellation, variables: env.variables
        ) { system in
            let lock = try system.lock(command: "rdr disk resync --all (started by \(env.commandLine))")
            defer { lock.release() }
            _ = try Background.spawn(system: system, lock: lock, jobs: nil, passing: nil, env)
        }
        // Forwarded to an owner: actions start in the caller's directory, with its umask.
        controller.caller = (
            env.workingDirectory == ProcessState.directory ? nil : env.workingDirectory,
            env.fileMask == ProcessState.fileMask ? nil : env.fileMask
        )
        return controller
    }

    static func options(_ p: Parsed) throws -> RequestOptions {
        var o = RequestOptions(noConfig: p.has("--no-config"), force: p.has("--force"))
        if let c = p.value("--config") {
            if o.noConfig { throw p.usage("give --config or --no-config, not both") }
            o.configPath = c.hasPrefix("/") ? c : p.env.workingDirectory + "/" + c
        }
        o.autoRecover = try autoRecover(p)
        return o
    }

    /// `--auto-recover`, the one request option `simulate` takes too.
    static func autoRecover(_ p: Parsed) throws -> AutoRecoverPolicy? {
        guard let text = p.value("--auto-recover") else { return nil }
        guard let policy = AutoRecoverPolicy(rawValue: text) else {
            throw p.usage("--auto-recover must be abort, retry or none, not '\(text)'")
        }
        return policy
    }

    /// Runs `body` with SIGINT/SIGTERM stopping the request (exit 130), then prints what was
    /// recovered on the way and the status bar, also when the request fails.
    static func withController(_ p: Parsed, _ body: (UpgradeController) throws -> Session) throws -> Int32 {
        let ctl = controller(try Common.open(p), p.env)
        do {
            let s = try body(ctl)
            for n in ctl.notices { p.env.out.line(n) }
            p.env.out.line(s.statusBar)
            return ExitCode.success
        } catch {
            for n in ctl.notices { p.env.out.line(n) }
            if let s = try? ctl.store.current() { p.env.out.line(s.statusBar) }
            throw error
        }
    }

    static func run(_ r: UserRequest, _ p: Parsed) throws -> Int32 {
        try p.noMorePositionals(than: 0)
        let o = try options(p)
        if let c = o.configPath { _ = try Configuration.load(c) }
        let code = try withController(p) { ctl in try ctl.perform(r, options: o) }
        if r == .check { p.env.out.line("Readiness check passed") }
        return code
    }

    static let restart = CommandSpec(
        path: ["restart"],
        overview:
            "Restart a side: 'upgrade' while split (partner OS Rebooting → OS Up); 'production' is refused while split.",
        positionals: "upgrade|production",
        arguments: [("upgrade|production", "The side to restart.")],
        options: Common.options + [autoRecoverOption],
        discussion:
            "A hung Upgrade Side (Partner: Hung: …) is reset: State Sensitive Recovery: Reset → BIOS POST →\nOS Booting → OS Up. Services follow their startup types.",
        observesCancellation: true,
        run: { p in
            let which = try p.positional(0, "upgrade|production")
            try p.noMorePositionals(than: 1)
            guard let side = Side(rawValue: which) else {
                throw p.usage("restart takes upgrade or production, not '\(which)'")
            }
            let o = try options(p)
            return try withController(p) { ctl in try ctl.restart(side, options: o) }
        })

    static let log = CommandSpec(
        path: ["log"],
        overview: "Show the activity log (text, JSON or XML); control characters print escaped (\\xNN).",
        options: Common.options + [
            OptionSpec(names: ["--json"], value: nil, help: "Print the entries as a JSON array.", exclusive: "format"),
            OptionSpec(names: ["--xml"], value: "file", help: "Save the log as XML to this file.", exclusive: "format"),
            OptionSpec(
                names: ["--severity"], value: "level",
                help: "Only Success, Pending, Information, Warning or Error entries\n(with their parents)."),
        ],
        run: { p in
            try p.noMorePositionals(than: 0)
            let system = try Common.open(p)
            var severity: Severity?
            if let text = p.value("--severity") {
                guard let s = Severity(text: text) else {
                    throw p.usage("--severity must be Success, Pending, Information, Warning or Error")
                }
                severity = s
            }
            let (all, unreadable) = ActivityLog.readCounting(ActivityLog(systemPath: system.path).path)
            if unreadable > 0 {
                p.env.err.line("Warning: skipped \(unreadable) unreadable lines of the activity log (not log records)")
            }
            let entries = LogFormat.filtered(all, severity: severity)
            if let file = p.value("--xml") {
                try TextFile.write(LogFormat.xml(entries), to: p.env.path(file), named: file)
                p.env.out.line("saved \(entries.count) entries to \(file)")
            } else if p.has("--json") {
                p.env.out.line(LogFormat.json(entries))
            } else {
                p.env.out.write(LogFormat.text(entries))
            }
            return ExitCode.success
        })

    static let services = CommandSpec(
        path: ["services"],
        overview: "Each controlled service per side: running or stopped, and its startup type.",
        options: Common.options + [OptionSpec(names: ["--json"], value: nil, help: "Print JSON.")],
        run: { p in
            try p.noMorePositionals(than: 0)
            let model = try SystemModel.load(try Common.open(p))
            if p.has("--json") {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                p.env.out.line(String(decoding: try encoder.encode(model.services), as: UTF8.self))
            } else {
                p.env.out.line("SERVICE          PRODUCTION SIDE          UPGRADE SIDE")
                for s in model.services {
                    func cell(_ x: SystemModel.ServiceSide) -> String {
                        padded("\(x.running ? "running" : "stopped") (\(x.startupType.rawValue))", 25)
                    }
                    p.env.out.line(padded(s.name, 17) + cell(s.production) + cell(s.upgrade))
                }
            }
            return ExitCode.success
        })

    static let config = CommandSpec(
        path: ["config"],
        overview: "Create, summarize or check a configuration file (.Config, JSON).",
        positionals: "new|summary|check <file>",
        arguments: [
            ("new <file>", "Write a commented template."),
            ("summary <file>", "The effective configuration and each item's file."),
            (
                "check <file>",
                "Validate against this machine: every custom action's file ready to run,\nthe log backup outside the system directory; exit 0 when valid."
            ),
        ],
        options: Common.options,
        run: { p in
            let verb = try p.positional(0, "new|summary|check")
            let file = try p.positional(1, "<file>")
            try p.noMorePositionals(than: 2)
            switch verb {
            case "new":
                guard file.hasSuffix(".Config") else {
                    throw RDRError(.invalidArgument, "configuration file names end in .Config, not '\(file)'")
                }
                guard !Directory.exists(p.env.path(file), sys: LinuxSystemCalls()) else {
                    throw RDRError(.invalidState, "\(file) already exists; pick another name")
                }
                try TextFile.write(Configuration.template, to: p.env.path(file), named: file)
                p.env.out.line("wrote \(file)")
            case "summary":
                p.env.out.write(try Configuration.load(p.env.path(file)).summary)
            case "check":
                let c = try Configuration.load(p.env.path(file))
                let system = try Common.systemPath(p)
                for w in try c.check(systemPath: RDRSystem.exists(at: system) ? system : nil) {
                    p.env.out.line("Warning: \(w.text)")
                }
                p.env.out.line(
                    "\(file): valid (\(c.files.count) file(s), \(c.services.count) service(s), \(c.customActions.count) custom action(s))"
                )
            default:
                throw p.usage("config takes new, summary or check, not '\(verb)'")
            }
            return ExitCode.success
        })

    /// `text` cut or padded with spaces to `width` characters (a table column).
    static func padded(_ text: String, _ width: Int) -> String {
        text.count >= width ? String(text.prefix(width)) : text + String(repeating: " ", count: width - text.count)
    }
}
