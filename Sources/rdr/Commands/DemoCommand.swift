import ActiveUpgrade
import FoundationEssentials
import Glibc
import RDR
import RDRArguments

/// `rdr demo`: the whole engine cycle on Images/demo, with the numbers.
enum DemoCommand {
    static let spec = CommandSpec(
        path: ["demo"],
        overview: "Rehearse a whole upgrade on a demo system: check, split, workloads, merge, commit, finish, verify.",
        options: Common.options + [
            OptionSpec(
                names: ["--fresh"], value: nil, help: "Recreate the demo system (only one that rdr demo created)."),
            OptionSpec(
                names: ["--size"], value: "size", help: "Size of each disk when creating it, 16M to 1T (default 1G)."),
        ],
        discussion:
            "Creates the system (boot: mandatory system disk, data: data disk) when absent and marks it as\nthe demo's: the demo never uses or replaces a system it did not create. The Upgrade Side writes\nboot; the Production Side writes boot and data; commit then resyncs boot Upgrade → Production\nand data Production → Upgrade in the background, and both are verified at the end.",
        run: run)

    /// The manifest section that marks a system as the demo's own.
    static let marker = "createdBy"
    static let sizeRange: ClosedRange<Int64> = (16 << 20)...(1 << 40)

    static func run(_ p: Parsed) throws -> Int32 {
        try p.noMorePositionals(than: 0)
        let path = try Common.systemPath(p)
        let size = try p.size("--size", in: sizeRange) ?? (1 << 30)
        let begin = Monotonic.now()
        var system = try prepare(p, path: path, size: size)
        guard let boot = system.manifest.disks.first(where: { $0.role.isSystem }),
            let data = system.manifest.disks.first(where: { $0.role == .data })
        else {
            throw RDRError(
                .invalidState,
                "the demo needs a system disk and a data disk in \(path); run the demo on another directory with --system DIR"
            )
        }
        let session = try SessionStore(system: system).current()
        guard session.upgradeState == .idle, session.operationalState != .busy else {
            throw RDRError(
                .invalidState,
                "\(path) is in an upgrade session (\(session.statusBar)); end it with 'rdr abort' and 'rdr finish' (or 'rdr finish' after a commit), then run 'rdr demo' again"
            )
        }
        let configPath = path + "/demo.Config"
        let config = """
            {"title": "RDR demo upgrade", "comments": "Written by rdr demo.", "services": ["appdb", "webapp"],
             "customActions": [{"file": "/bin/sh", "arguments": ["-c", "echo readiness ok on the %ACTIVE_UPGRADE_SIDE% Side"], "controlType": "ReadinessCheck"}]}

            """
        try? TextFile.write(config, to: configPath, named: configPath)
        let ctl = UpgradeCommands.controller(system, p.env)
        func step(_ n: Int, _ what: String, _ r: UserRequest, config: String? = nil) throws {
            let s = try ctl.perform(r, configPath: config)
            p.env.out.line("\(n). \(what)\n   \(s.statusBar)")
        }
        try step(1, "Readiness check", .check, config: configPath)
        try step(
            2, "Split: services stopped and disabled on the Upgrade Side, mirrors split", .split, config: configPath)
        try workloads(p, system, boot: boot.name, data: data.name, size: size)
        try step(4, "Merge: the Upgrade Side runs the applications on the upgraded boot disk", .merge)
        try step(5, "Commit: resyncs started (boot Upgrade → Production, data Production → Upgrade)", .commit)
        try step(6, "Finish: back to Idle while the resyncs run in the background", .finish)
        try waitForResyncs(p, system)
        system = try p.env.openSystem(path)
        try verify(p, system, disks: [boot.name, data.name])
        p.env.out.line(
            "Done in \(Printf.format("%.1f", Monotonic.now() - begin)) s: a whole upgrade session rehearsed; 'rdr log' shows every step, 'rdr status' shows Status: None."
        )
        return ExitCode.success
    }

    /// Creates the demo system (or recreates it with --fresh), or reuses the one the demo made.
    static func prepare(_ p: Parsed, path: String, size: Int64) throws -> RDRSystem {
        let exists = RDRSystem.exists(at: path)
        if exists { try requireDemoSystem(path, p.env) }
        if p.has("--fresh") || !exists {
            let disks = DiskSpec.defaults.map { DiskSpec(name: $0.name, size: size, role: $0.role) }
            let created = try InitCommand.create(
                at: path, disks: disks, primary: .ten, force: exists, command: p.env.commandLine)
            try created.writeExtensionSection(marker, Data("\"rdr demo\"".utf8))
            p.env.out.line(
                "Created \(path): boot (mandatory system disk) and data (data disk), \(ByteSize.format(size)) each, sparse"
            )
        } else {
            p.env.out.line("Using the existing demo system \(path)")
        }
        return try p.env.openSystem(path)
    }

    /// Step 3: each side writes while split; the Upgrade Side is refused the data disk.
    static func workloads(_ p: Parsed, _ system: RDRSystem, boot: String, data: String, size: Int64) throws {
        p.env.out.line("3. Workloads while split (random 64 KiB writes):")
        let lock = try system.lock(command: p.env.commandLine)
        defer { lock.release() }
        let bootDisk = try system.disk(boot)
        let dataDisk = try system.disk(data)
        let unit = max(Int64(1 << 20), size / 64 / (1 << 20) * (1 << 20))
        for (disk, side, bytes, seed) in [
            (bootDisk, Side.upgrade, 3 * unit, UInt64(11)), (bootDisk, .production, 2 * unit, 12),
            (dataDisk, .production, 4 * unit, 13),
        ] {
            var w = Workload(bytes: bytes)
            w.seed = seed
            let s = try w.run(on: disk, side: .side(side))
            p.env.out.line(
                "   \(side.title) Side → \(disk.name): \(ByteSize.format(s.bytesWritten)) in \(s.writes) writes, \(Printf.format("%.1f", s.mibPerSecond)) MiB/s"
            )
        }
        do {
            try dataDisk.write(side: .side(.upgrade), offset: 0, bytes: [1])
        } catch {
            p.env.out.line("   Upgrade Side → \(data): refused (\(error.message.prefix(60))…)")
        }
    }

    /// Step 7: follows the background resyncs until every disk is in sync and the child is gone.
    static func waitForResyncs(_ p: Parsed, _ system: RDRSystem) throws {
        p.env.out.line("7. Background resync progress (from 'rdr status'):")
        var last = ""
        while true {
            let st = try system.status()
            let line = st.disks.map { "\($0.name): \($0.status)" }.joined(separator: "   ")
            if line != last {
                p.env.out.line("   " + line)
                last = line
            }
            // In sync is not enough: the background child holds the lock until it exits, and
            // the verify after this needs it.
            if st.disks.allSatisfy({ $0.status == .inSync }) && st.lockHolder == nil { break }
            if st.disks.contains(where: { $0.resync != nil && $0.resync?.running == false }) && st.lockHolder == nil {
                throw RDRError(
                    .io,
                    "the background resync stopped early; see \(system.path)/.all.resync.log and run 'rdr disk resync --all'"
                )
            }
            usleep(200_000)
        }
    }

    /// Step 8: both disks' members must be identical.
    static func verify(_ p: Parsed, _ system: RDRSystem, disks: [String]) throws {
        p.env.out.line("8. Verify:")
        let lock = try system.lock(command: p.env.commandLine)
        defer { lock.release() }
        for d in disks {
            let report = try system.disk(d).verify()
            guard report.mismatched.isEmpty else {
                throw RDRError(
                    .corrupt,
                    "verify of '\(d)' found \(ByteSize.format(report.mismatchedBytes)) that differ after the resync")
            }
            p.env.out.line(
                "   \(d): members identical (\(ByteSize.format(report.bytesCompared)) of data compared in \(Printf.format("%.2f", report.seconds)) s)"
            )
        }
    }

    /// The demo only ever uses or replaces a system it created itself (marked in its manifest).
    static func requireDemoSystem(_ path: String, _ env: CommandEnvironment) throws {
        let system = try env.openSystem(path)
        guard let mark = try system.extensionSection(marker), String(decoding: mark, as: UTF8.self) == "\"rdr demo\""
        else {
            throw RDRError(
                .invalidState,
                "\(path) was not created by 'rdr demo', so the demo neither uses nor replaces it; run the demo on another directory with --system DIR"
            )
        }
    }
}
