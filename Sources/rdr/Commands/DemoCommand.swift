import Foundation
import RDR

/// `rdr demo`: the whole engine cycle on Images/demo, with the numbers.
enum DemoCommand {
    static let spec = CommandSpec(
        path: ["demo"],
        overview: "Run a full cycle on a demo system: split, a workload on each side, commit-direction resyncs, verify.",
        usage: "rdr demo [--system <dir>] [--fresh] [--size <size>]",
        options: Common.options + [
            OptionSpec(names: ["--fresh"], value: nil, help: "Recreate the demo system even if it exists."),
            OptionSpec(names: ["--size"], value: "size", help: "Size of each disk when creating it (default 1G)."),
        ],
        discussion: "Creates the system (boot: mandatory system disk, data: data disk) when absent. The Upgrade\nSide writes boot; the Production Side writes boot and data; then boot resyncs Upgrade →\nProduction and data Production → Upgrade, as a commit does, and both are verified.",
        run: run)

    static func run(_ p: Parsed) throws -> Int32 {
        try p.noMorePositionals(than: 0)
        let path = try Common.systemPath(p)
        let size = try p.size("--size") ?? (1 << 30)
        let begin = Monotonic.now()
        if p.has("--fresh") || !RDRSystem.exists(at: path) {
            let disks = DiskSpec.defaults.map { DiskSpec(name: $0.name, size: size, role: $0.role) }
            _ = try InitCommand.create(at: path, disks: disks, primary: .ten, force: true)
            Terminal.out("1. Created \(path): boot (mandatory system disk) and data (data disk), \(ByteSize.format(size)) each, sparse")
        } else {
            Terminal.out("1. Using the existing system \(path) (--fresh recreates it)")
        }
        let system = try RDRSystem.open(at: path)
        let lock = try system.lock(command: Common.commandLine)
        defer { lock.release() }
        guard let boot = system.manifest.disks.first(where: { $0.role.isSystem }),
              let data = system.manifest.disks.first(where: { $0.role == .data }) else {
            throw RDRError(.invalidState, "the demo needs a system disk and a data disk in \(path); run 'rdr demo --fresh'")
        }
        let bootDisk = try system.disk(boot.name), dataDisk = try system.disk(data.name)
        for d in [bootDisk, dataDisk] where d.record.mode != .duplex || d.dirtyBytes.contains(where: { $0 > 0 }) {
            throw RDRError(.invalidState, "disk '\(d.name)' in \(path) is \(d.record.mode), not an in-sync duplex; run 'rdr demo --fresh' to start over")
        }
        let primary = bootDisk.record.primary
        try bootDisk.split()
        try dataDisk.split()
        Terminal.out("2. Split: Production Side = enclosure \(primary), Upgrade Side = enclosure \(primary.other); the Upgrade Side has no access to '\(data.name)'")

        let unit = max(Int64(1 << 20), size / 64 / (1 << 20) * (1 << 20))
        let loads: [(VirtualDisk, Side, Int64, UInt64)] = [
            (bootDisk, .upgrade, 3 * unit, 11), (bootDisk, .production, 2 * unit, 12), (dataDisk, .production, 4 * unit, 13),
        ]
        Terminal.out("3. Workloads (random 64 KiB writes):")
        for (disk, side, bytes, seed) in loads {
            var w = Workload(bytes: bytes)
            w.seed = seed
            let s = try w.run(on: disk, side: .side(side))
            Terminal.out(String(format: "   %@ Side → %@: %@ in %d writes, %.1f MiB/s", side.title, disk.name, ByteSize.format(s.bytesWritten), s.writes, s.mibPerSecond))
        }
        for d in [bootDisk, dataDisk] {
            let dirty = d.dirtyBytes
            Terminal.out("   \(d.name): dirty on member \(primary) (Production) \(ByteSize.format(dirty[primary.index])), on member \(primary.other) (Upgrade) \(ByteSize.format(dirty[primary.other.index]))")
        }
        try bootDisk.merge()
        try dataDisk.merge()
        Terminal.out("4. Merged: '\(boot.name)' runs on the Upgrade member, '\(data.name)' on the Production member")
        Terminal.out("5. Commit resyncs (system disk Upgrade → Production, data disk Production → Upgrade):")
        var summaries: [ResyncSummary] = []
        for (disk, source) in [(bootDisk, primary.other), (dataDisk, primary)] {
            let display = ProgressDisplay(label: "   resync \(disk.name) \(source)→\(source.other)")
            let s = try disk.resync(from: source, observer: { display.show($0) })
            display.end()
            Terminal.out("   " + DiskCommands.describe(s))
            summaries.append(s)
        }
        Terminal.out("6. Verify:")
        for d in [bootDisk, dataDisk] {
            let report = try d.verify()
            guard report.mismatched.isEmpty else {
                throw RDRError(.corrupt, "verify of '\(d.name)' found \(ByteSize.format(report.mismatchedBytes)) that differ after the resync")
            }
            Terminal.out(String(format: "   %@: members identical (%@ of data compared in %.2f s)", d.name, ByteSize.format(report.bytesCompared), report.seconds))
        }
        let copied = summaries.reduce(Int64(0)) { $0 + $1.bytesCopied }
        Terminal.out(String(format: "Done in %.1f s: %@ diverged, %@ copied back, every member identical; 'rdr status' shows Status: None.",
                            Monotonic.now() - begin, ByteSize.format(summaries.reduce(Int64(0)) { $0 + $1.bytesPlanned }), ByteSize.format(copied)))
        return ExitCode.success
    }
}
