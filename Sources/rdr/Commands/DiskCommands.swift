import ActiveUpgrade
import CRDRSys
import FoundationEssentials
import Glibc
import RDR
import RDRArguments

/// `rdr disk …`: the engine-level mirror operations.
enum DiskCommands {
    static let group = CommandSpec(
        path: ["disk"],
        overview: "Mirror operations on virtual disks: split, merge, resync, verify.",
        positionals: "<subcommand>",
        options: [],
        subcommands: [
            ("split", "Split mirrors: each side writes its own member from now on."),
            ("merge", "Merge split mirrors: system disks run on the Upgrade member."),
            ("resync", "Copy what diverged from one member to the other."),
            ("verify", "Compare the members; optionally repair from one side."),
        ])

    static let split = CommandSpec(
        path: ["disk", "split"],
        overview: "Split duplexed disks: from now on each side writes its own member and they diverge.",
        positionals: "[<disk> ...]",
        arguments: [("<disk>", "Disks to split (default: all).")],
        options: Common.options + [
            OptionSpec(
                names: ["--primary"], value: "10|11",
                help: "Enclosure that becomes the Production Side (default: the system's)."),
            EngineGuard.forceOption,
        ],
        discussion: "While split, the Upgrade Side has no access to data disks.",
        run: { p in try transition(p, verb: "split") { disk in try disk.split(primary: try p.enclosure("--primary")) } }
    )

    static let merge = CommandSpec(
        path: ["disk", "merge"],
        overview:
            "Merge split disks: system disks run on the Upgrade member (Production frozen for abort); data disks stay on Production.",
        positionals: "[<disk> ...]",
        arguments: [("<disk>", "Disks to merge (default: all).")],
        options: Common.options + [EngineGuard.forceOption],
        run: { p in try transition(p, verb: "merged") { disk in try disk.merge() } })

    /// Applies a transition to the named disks (all by default), checking every name first;
    /// a disk named twice is refused (it would be split twice).
    static func transition(_ p: Parsed, verb: String, _ body: (VirtualDisk) throws -> Void) throws -> Int32 {
        let named = try p.distinctPositionals()
        let system = try Common.open(p)
        let lock = try system.lock(command: p.env.commandLine)
        defer { lock.release() }
        let names = named.isEmpty ? system.manifest.disks.map(\.name) : named
        try EngineGuard.check(p, system, verb == "split" ? .split : .merge, disks: names)
        let disks = try names.map { try system.disk($0) }
        for disk in disks {
            try body(disk)
            p.env.out.line("\(disk.name): \(verb) (\(disk.record.mode))")
        }
        return ExitCode.success
    }

    static let resyncOptions: [OptionSpec] = [
        OptionSpec(
            names: ["--workers"], value: "n",
            help: "Parallel copy workers, 1 to 64 (default \(ResyncOptions.defaultWorkers))."),
        OptionSpec(
            names: ["--io-size"], value: "size",
            help:
                "Largest single copy, a multiple of 4K from 4K to 64M\n(default \(ByteSize.compact(ResyncOptions.defaultMaxIOSize)))."
        ),
        OptionSpec(
            names: ["--max-rate"], value: "rate",
            help:
                "Cap on bytes copied per second, 1 to 1P, e.g. 100M\n(default: unthrottled; punched holes are not counted)."
        ),
        OptionSpec(
            names: ["--min-rate"], value: "rate",
            help:
                "Rate kept while clients read or write the same disk, 1 to 1P,\nat most --max-rate (default \(ByteSize.compact(ResyncOptions.defaultMinRate))): the resync slows to it\nunder their load, never below, and goes full speed (or --max-rate)\nwhen they are idle; at or above --max-rate (1024T without one)\nit never slows."
        ),
        OptionSpec(
            names: ["--copy-method"], value: "method",
            help: "pread (pread/pwrite, default), copy-file-range or uring (O_DIRECT through io_uring)."),
        OptionSpec(names: ["--checkpoint"], value: "seconds", help: "Checkpoint interval, 0.05 to 3600 (default 1)."),
    ]

    static let resync = CommandSpec(
        path: ["disk", "resync"],
        overview: "Copy the union of both members' dirty regions from one member to the other.",
        positionals: "[<disk>]",
        arguments: [("<disk>", "The virtual disk.")],
        options: Common.options + [
            OptionSpec(
                names: ["--from"], value: "10|11", help: "The member to copy from (its bytes win).", required: true,
                exclusive: "which"),
            OptionSpec(
                names: ["--all"], value: nil,
                help:
                    "Finish every resync already started (commit, abort), in its own\ndirection, one disk after another.",
                required: true, exclusive: "which"),
        ] + resyncOptions + [
            OptionSpec(
                names: ["--full"], value: nil,
                help:
                    "Copy every region (holes are punched, not read) and rebuild\nboth members' metadata: the fix for corrupt, missing, stale or\nforeign metadata and for a missing, wrong-size, replaced or\nswapped image. Needs --force: it ignores the bitmaps and\ngenerations that keep a copy from running the wrong way."
            ),
            OptionSpec(
                names: ["--force"], value: nil,
                help:
                    "Confirm --full (the other member's differing bytes are lost); also\nruns while an upgrade session owns the disk (recorded in the\nactivity log)."
            ),
            OptionSpec(
                names: ["--background"], value: nil,
                help: "Detach and return at once; follow it with 'rdr status --watch'."),
            OptionSpec(names: ["--json"], value: nil, help: "Print the summary as JSON."),
            OptionSpec(names: ["--detached-child"], value: nil, help: "", hidden: true),
        ],
        discussion:
            "An interrupted resync (Ctrl-C, kill, power cut) resumes where its last checkpoint was\nwhen run again with the same --from; it cannot be reversed without --full --force.",
        observesCancellation: true, run: runResync)

    static func options(_ p: Parsed) throws -> ResyncOptions {
        var o = ResyncOptions()
        o.workers = try p.integer("--workers", in: ResyncOptions.workerRange) ?? o.workers
        o.maxIOSize = try p.size("--io-size", in: ResyncOptions.ioSizeRange) ?? o.maxIOSize
        o.maxRate = try p.size("--max-rate", in: ResyncOptions.maxRateRange)
        o.minRate = try p.size("--min-rate", in: ResyncOptions.minRateRange)
        if let m = p.value("--copy-method") {
            guard let method = ResyncOptions.CopyMethod(rawValue: m) else {
                throw p.usage("--copy-method must be pread, copy-file-range or uring")
            }
            o.copyMethod = method
        }
        o.checkpointSeconds = try p.seconds("--checkpoint", in: ResyncOptions.checkpointRange) ?? o.checkpointSeconds
        do { try o.validate() } catch { throw p.usage(error.message) }
        return o
    }

    static func runResync(_ p: Parsed) throws -> Int32 {
        let all = p.has("--all")
        if all {
            try p.noMorePositionals(than: 0)
            if p.has("--from") || p.has("--full") {
                throw p.usage("--all resumes started resyncs in their own direction; it takes no --from or --full")
            }
        } else {
            try p.noMorePositionals(than: 1)
        }
        if p.has("--full") && !p.has("--force") {
            throw p.usage(
                "--full overwrites every byte of the other member that differs from the --from member, ignoring the bitmaps and generations that protect it; add --force to confirm (run 'rdr disk verify' first to see what differs)"
            )
        }
        // Without --full, --force is the override of an upgrade session that owns the disk (EngineGuard).
        let name = all ? "" : try p.positional(0, "<disk>")
        let from = try p.enclosure("--from")
        guard all || from != nil else { throw p.usage("missing --from 10|11") }
        var options = try options(p)
        let system = try Common.open(p)
        let lock =
            p.has("--detached-child")
            ? try SystemLock.adopt(fd: 3, systemPath: system.path, command: p.env.commandLine, sys: system.sys)
            : try system.lock(command: p.env.commandLine)
        defer { lock.release() }
        // A background worker owns the system while it runs: other commands run in it.
        let owner = p.has("--detached-child") ? try OwnerRuntime.start(system: system, lock: lock) : nil
        defer { owner?.finishWhenIdle(unless: p.env.cancellation) }
        let jobs = try resyncJobs(p, system, disk: all ? nil : name, from: from)
        if p.has("--background") { return try startInBackground(p, system, lock, jobs: jobs, all: all) }
        options.cancellation = p.env.cancellation
        if jobs.isEmpty && all { p.env.out.line("no resync to run") }
        for (diskName, source) in jobs {
            let disk = try system.disk(diskName)
            let display = ProgressDisplay(label: "resync \(diskName) \(source)→\(source.other)", out: p.env.out)
            let summary: ResyncSummary
            do {
                let show: @Sendable (ResyncProgress) -> Void = { display.show($0) }
                summary = try disk.resync(from: source, options: options, observer: p.has("--json") ? nil : show)
            } catch {
                display.end()
                throw error
            }
            display.end()
            p.env.out.line(p.has("--json") ? try JSONOutput.text(JSONOutput.Resync(summary)) : describe(summary))
        }
        return ExitCode.success
    }

    /// (disk, source) pairs to run: the named disk (checked against a session, prepared for
    /// --full), or with `disk` nil every disk already resyncing, in its own direction.
    static func resyncJobs(_ p: Parsed, _ system: RDRSystem, disk name: String?, from: Enclosure?) throws -> [(
        String, Enclosure
    )] {
        guard let name, let source = from else {
            var jobs: [(String, Enclosure)] = []
            for d in system.manifest.disks {
                let r = try system.disk(d.name, access: .readOnly).record
                if r.mode == .resyncing, let s = r.resyncSource { jobs.append((d.name, s)) }
            }
            return jobs
        }
        _ = try system.manifest.disk(named: name)
        if !p.has("--detached-child") {
            try EngineGuard.check(p, system, .resync(from: source, full: p.has("--full")), disks: [name])
        }
        if p.has("--full") { try system.prepareFullResync(disk: name, from: source) }
        return [(name, source)]
    }

    /// `--background`: hands the lock to a detached child and returns at once.
    static func startInBackground(
        _ p: Parsed, _ system: RDRSystem, _ lock: SystemLock, jobs: [(String, Enclosure)], all: Bool
    ) throws -> Int32 {
        for (disk, source) in jobs {
            let r = try system.disk(disk, access: .readOnly).record
            if r.mode == .resyncing, let s = r.resyncSource, s != source {
                throw RDRError(
                    .invalidState,
                    "disk '\(disk)' is being resynced from \(s); resume it with 'rdr disk resync \(disk) --from \(s)'")
            }
        }
        guard !jobs.isEmpty else {
            p.env.out.line("no resync to run")
            return ExitCode.success
        }
        let pid = try Background.spawn(system: system, lock: lock, jobs: all ? nil : jobs.first, passing: p, p.env)
        let what = all ? jobs.map(\.0).joined(separator: ", ") : jobs[0].0
        p.env.out.line("resync of \(what) runs in the background (pid \(pid)); follow it with 'rdr status --watch'")
        return ExitCode.success
    }

    static func describe(_ s: ResyncSummary) -> String {
        if s.nothingToDo { return "resync \(s.disk): nothing to copy, members already in sync" }
        var line =
            "resync \(s.disk) \(s.source)→\(s.target) done: planned \(ByteSize.format(s.bytesPlanned)), "
            + "copied \(ByteSize.format(s.bytesCopied)), holes punched \(ByteSize.format(s.bytesPunched)), "
            + Printf.format("%.2f s, %.1f MiB/s", s.seconds, s.mibPerSecond)
        if s.bytesDoneBefore > 0 { line += " (resumed: \(ByteSize.format(s.bytesDoneBefore)) done earlier)" }
        return line
    }

    static let verify = CommandSpec(
        path: ["disk", "verify"],
        overview: "Compare both members region by region (holes in both are skipped) and list mismatches.",
        positionals: "<disk>",
        arguments: [("<disk>", "The virtual disk.")],
        options: Common.options + [
            OptionSpec(
                names: ["--repair-from"], value: "10|11", help: "Resync mismatched regions from this member.",
                exclusive: "repair"),
            OptionSpec(
                names: ["--adopt"], value: nil,
                help:
                    "Re-adopt member images that are new files (a system copied or\nrestored as a whole) when they differ only where a bitmap says\nthey may; a swap or an unexplained difference is refused.",
                exclusive: "repair"),
            OptionSpec(
                names: ["--workers"], value: "n",
                help: "Parallel readers, 1 to 64 (default \(ResyncOptions.defaultWorkers))."),
            OptionSpec(names: ["--json"], value: nil, help: "Print the report as JSON."),
            EngineGuard.forceOption,
        ],
        discussion:
            "Exits 0 when the members are identical (or were repaired or adopted), 2 when they differ. Without\n--repair-from or --adopt it only reads: it shares the lock with other readers and works on\nread-only media, and it also checks disks whose images are not the recorded files.",
        run: runVerify)

    static func runVerify(_ p: Parsed) throws -> Int32 {
        let name = try p.positional(0, "<disk>")
        try p.noMorePositionals(than: 1)
        let repair = try p.enclosure("--repair-from")
        let adopt = p.has("--adopt")
        if adopt && repair != nil { throw p.usage("give --repair-from or --adopt, not both") }
        let workers = try p.integer("--workers", in: ResyncOptions.workerRange) ?? ResyncOptions.defaultWorkers
        let system = try Common.open(p)
        let readOnly = repair == nil && !adopt
        let lock =
            readOnly ? try system.readLock(command: p.env.commandLine) : try system.lock(command: p.env.commandLine)
        defer { lock?.release() }
        if !readOnly { try EngineGuard.check(p, system, .repair, disks: [name]) }
        let disk = try system.disk(
            name, access: readOnly ? .readOnly : .readWrite, identity: repair == nil ? .report : .enforce)
        let report =
            adopt ? try disk.adoptImages(workers: workers) : try disk.verify(workers: workers, repairFrom: repair)
        try printVerify(report, name: name, repairedFrom: repair, p)
        if adopt { p.env.out.line("verify \(name): member images adopted; the disk is trusted again") }
        if readOnly, let problem = disk.identityProblem { p.env.out.line("Note: \(problem.message)") }
        return report.mismatched.isEmpty || report.repair != nil || adopt ? ExitCode.success : ExitCode.differences
    }

    static func printVerify(_ report: VerifyReport, name: String, repairedFrom repair: Enclosure?, _ p: Parsed) throws {
        let ranges = report.mismatchedRanges
        if p.has("--json") {
            p.env.out.line(try JSONOutput.text(JSONOutput.Verify(report, name: name)))
        } else if ranges.isEmpty {
            p.env.out.line(
                "verify \(name): members identical (compared \(ByteSize.format(report.bytesCompared)) of data in \(Printf.format("%.2f", report.seconds)) s)"
            )
        } else {
            p.env.out.line(
                "verify \(name): \(report.mismatched.count) mismatched regions (\(ByteSize.format(report.mismatchedBytes))):"
            )
            for r in ranges.prefix(50) { p.env.out.line("  offset \(r.lowerBound) length \(r.count)") }
            if ranges.count > 50 { p.env.out.line("  … and \(ranges.count - 50) more ranges") }
            if !report.unexplained.isEmpty {
                p.env.out.line(
                    "  \(report.unexplained.count) of them are marked in sync on both members: an image was replaced or swapped, or written behind rdr's back; keep the right member with 'rdr disk resync \(name) --from 10|11 --full --force'"
                )
            }
            if let repaired = report.repair {
                p.env.out.line("repaired from \(repair?.description ?? "?"): " + describe(repaired))
            }
        }
    }
}

/// Starts a detached `rdr disk resync` that inherits the system lock, so no other process can
/// slip in between this process exiting and the child starting.
enum Background {
    /// `job` nil resumes every started resync (`--all`).
    static func spawn(
        system: RDRSystem, lock: SystemLock, jobs job: (String, Enclosure)?, passing p: Parsed?,
        _ env: CommandEnvironment
    ) throws -> Int32 {
        if lock.isInProcess, let owned = SystemOwnership.shared.owner(of: system.path) {
            // Inside an owner a child could not take the lock: the resyncs become its threads.
            let jobs = try job.map { [$0] } ?? owned.interruptedResyncs()
            try OwnerRuntime.startBackground(
                owned, jobs: jobs, options: try p.map(DiskCommands.options) ?? ResyncOptions(),
                logPath: system.path + "/." + (job?.0 ?? "all") + ".resync.log")
            return getpid()
        }
        let exe = Background.resolve(env.executable)
        var args =
            [exe, "disk", "resync"] + (job.map { [$0.0, "--from", $0.1.description] } ?? ["--all"]) + [
                "--system", system.path, "--detached-child",
            ]
        for key in ["--workers", "--io-size", "--max-rate", "--min-rate", "--copy-method", "--checkpoint"] {
            if let v = p?.value(key) { args += [key, v] }
        }
        let logPath = system.path + "/." + (job?.0 ?? "all") + ".resync.log"
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard log >= 0 else { throw RDRError(.io, "cannot open \(logPath) for the background resync's output") }
        defer { close(log) }
        // A duplicate without close-on-exec, above fd 3, so the child's dup2 to fd 3 keeps it open.
        let inherited = fcntl(lock.fd.rawValue, F_DUPFD, 10)
        guard inherited >= 0 else { throw RDRError(.io, "cannot hand the lock to the background resync") }
        defer { close(inherited) }
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        cargs.append(nil)
        defer { for a in cargs { free(a) } }
        let pid = rdr_spawn_detached(exe, &cargs, log, inherited)
        guard pid > 0 else {
            throw RDRError(.io, "cannot start the background resync: \(String(cString: strerror(-pid)))")
        }
        lock.handOff()
        OwnerRuntime.awaitRunning(system, disks: job.map { [$0.0] } ?? []) { rdr_child_ended(pid) != 0 }
        return pid
    }

    /// The real file behind `path` (`/proc/self/exe` names this process's binary, which the
    /// child's argv[0] and `ps` should show), or `path` itself when it cannot be resolved.
    static func resolve(_ path: String) -> String {
        guard let real = realpath(path, nil) else { return path }
        defer { free(real) }
        return String(cString: real)
    }
}
