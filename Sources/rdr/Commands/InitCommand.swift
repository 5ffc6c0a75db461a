import ActiveUpgrade
import Foundation
import RDR
import RDRArguments

enum InitCommand {
    static let spec = CommandSpec(
        path: ["init"],
        overview: "Create a system: sparse member images, checksummed metadata and a manifest.",
        usage: "rdr init [--system <dir>] [--disk <name:size:role> ...] [--region-size <size>] [--primary 10|11] [--force]",
        options: Common.options + [
            OptionSpec(names: ["--disk"], value: "name:size:role", help: "A virtual disk, e.g. boot:1G:mandatory. Roles: system, data,\nmandatory. Repeat for more. Default: boot:1G:mandatory, data:1G:data.", repeatable: true),
            OptionSpec(names: ["--region-size"], value: "size", help: "Bitmap granularity, a power of two from 4K to 64M (default 64K)."),
            OptionSpec(names: ["--primary"], value: "10|11", help: "Enclosure that becomes the Production Side at split (default 10)."),
            OptionSpec(names: ["--force"], value: nil, help: "Replace an existing system (its images are deleted)."),
        ],
        discussion: "Sizes take K, M, G, T suffixes (powers of 1024) and must be multiples of 512.\nImages are sparse: a fresh 1T disk takes no space.",
        run: run)

    static func run(_ p: Parsed) throws -> Int32 {
        try p.noMorePositionals(than: 0)
        let path = try Common.systemPath(p)
        let region = try p.size("--region-size") ?? DiskSpec.defaultRegionSize
        do { try DiskSpec.validateRegionSize(region) } catch { throw p.usage(error.message) }
        let primary = try p.enclosure("--primary") ?? .ten
        var disks: [DiskSpec] = []
        for text in p.all("--disk") {
            do { disks.append(try DiskSpec.parse(text, regionSize: region)) } catch { throw p.usage(error.message) }
        }
        if disks.isEmpty { disks = DiskSpec.defaults.map { DiskSpec(name: $0.name, size: $0.size, role: $0.role, regionSize: region) } }
        let system = try create(at: path, disks: disks, primary: primary, force: p.has("--force"))
        Terminal.out("Created system \(system.path) (Production Side: enclosure \(primary))")
        for d in system.manifest.disks {
            Terminal.out("  \(d.name): \(d.role), \(ByteSize.format(d.size)), regions \(ByteSize.format(d.regionSize)), members \(d.members.map { system.file($0.image) }.joined(separator: ", "))")
        }
        return ExitCode.success
    }

    /// Makes the directory, takes the lock and creates the system.
    static func create(at path: String, disks: [DiskSpec], primary: Enclosure, force: Bool) throws -> RDRSystem {
        if RDRSystem.exists(at: path) && !force {
            throw RDRError(.invalidState, "a system already exists at \(path); use --force to replace it (its images are deleted) or pick another --system")
        }
        for d in disks { try d.validate() }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw RDRError(.io, "cannot create directory \(path): \(error.localizedDescription)")
        }
        let lock = try SystemLock.acquire(systemPath: path, command: Common.commandLine, sys: LinuxSystemCalls())
        defer { lock.release() }
        let system = try RDRSystem.create(at: path, disks: disks, primary: primary, force: force)
        // A healthy machine model for the readiness check, and a fresh session and log.
        try SystemModel.healthy.save(system)
        for leftover in ["session.json", "activity.log.jsonl"] { try? FileManager.default.removeItem(atPath: path + "/" + leftover) }
        try? FileManager.default.removeItem(atPath: path + "/session")
        return try RDRSystem.open(at: path)
    }
}
