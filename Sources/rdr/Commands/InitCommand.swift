import ActiveUpgrade
import FoundationEssentials
import Glibc
import RDR
import RDRArguments

enum InitCommand {
    static let spec = CommandSpec(
        path: ["init"],
        overview: "Create a system: sparse member images, checksummed metadata and a manifest.",
        options: Common.options + [
            OptionSpec(
                names: ["--disk"], value: "name:size:role",
                help:
                    "A virtual disk, e.g. boot:1G:mandatory. Roles: system, data,\nmandatory. Repeat for more. Default: boot:1G:mandatory, data:1G:data.\nname:role:from=file makes a disk of an existing raw image (below).",
                repeatable: true),
            OptionSpec(
                names: ["--region-size"], value: "size",
                help: "Bitmap granularity, a power of two from 4K to 64M (default 64K)."),
            OptionSpec(
                names: ["--primary"], value: "10|11",
                help: "Enclosure that becomes the Production Side at split (default 10)."),
            OptionSpec(
                names: ["--force"], value: nil,
                help:
                    "Replace an existing system and any file in the way (deleted).\nWithout it init never replaces a file."
            ),
        ],
        discussion:
            "Sizes take K, M, G, T, P (or KiB, MiB, GiB, TiB, PiB) suffixes, powers of 1024 (KB, MB… are\nrefused as ambiguous), and must be multiples of 512, up to 1P. Images are sparse: a fresh 1T disk takes no\nspace. A failed init removes exactly what it created.\n\nBring your own image: --disk boot:mandatory:from=debian.raw makes a disk the size of the raw\nimage whose two members start as identical copies of it, in sync (Status: None). They are\nreflinks (FICLONE: shared extents, instant) where the filesystem allows, otherwise sparse copies\nof its data (holes stay holes); the file itself is only read. Refused with exit 65, before\nanything is created: a qcow2, QED, VMDK, VDI, VHD, VHDX or Parallels image (convert it with\nqemu-img convert -O raw FILE out.raw), a size that is not a multiple of 512 (pad it with\ntruncate -s), a file inside the system directory, a directory, FIFO or device, a missing or\nunreadable file. Ctrl-C (SIGINT, SIGTERM, SIGHUP) during an import stops it, removes what init\ncreated and exits 130.",
        observesCancellation: true, run: run)

    static func run(_ p: Parsed) throws -> Int32 {
        try p.noMorePositionals(than: 0)
        let path = try Common.systemPath(p)
        let region =
            try p.size("--region-size", in: DiskSpec.minRegionSize...DiskSpec.maxRegionSize)
            ?? DiskSpec.defaultRegionSize
        do { try DiskSpec.validateRegionSize(region) } catch { throw p.usage(error.message) }
        let primary = try p.enclosure("--primary") ?? .ten
        var disks: [DiskSpec] = []
        for text in p.all("--disk") {
            do { disks.append(try DiskSpec.parseArgument(text, regionSize: region, systemPath: path)) } catch {
                // A syntax error is a usage error; a FILE that cannot be imported keeps its own kind.
                if error.kind == .invalidArgument { throw p.usage(error.message) }
                throw error
            }
        }
        if disks.isEmpty {
            disks = DiskSpec.defaults.map { DiskSpec(name: $0.name, size: $0.size, role: $0.role, regionSize: region) }
        }
        let system = try create(
            at: path, disks: disks, primary: primary, force: p.has("--force"), command: p.env.commandLine,
            cancellation: p.env.cancellation)
        p.env.out.line("Created system \(system.path) (Production Side: enclosure \(primary))")
        for d in system.manifest.disks {
            p.env.out.line(
                "  \(d.name): \(d.role), \(ByteSize.format(d.size)), regions \(ByteSize.format(d.regionSize)), members \(d.members.map { system.file($0.image) }.joined(separator: ", "))"
            )
        }
        return ExitCode.success
    }

    /// Files of the layers above the engine that a fresh system starts without.
    static let sessionFiles = ["session.json", "activity.log.jsonl", "session"]

    /// Makes the directory, takes the lock and creates the system. Without `force` nothing that
    /// exists is replaced; a failure removes exactly what this call created (directories, the
    /// lock file, the system's files). `command` describes the lock's holder.
    static func create(
        at path: String, disks: [DiskSpec], primary: Enclosure, force: Bool, command: String,
        cancellation: CancellationFlag? = nil
    ) throws -> RDRSystem {
        if RDRSystem.exists(at: path) && !force {
            throw RDRError(
                .invalidState,
                "a system already exists at \(path); use --force to replace it (its images are deleted) or pick another --system"
            )
        }
        for d in disks { try d.validate() }
        let sys = LinuxSystemCalls()
        if !force, let name = sessionFiles.first(where: { Directory.exists(path + "/" + $0, sys: sys) }) {
            throw RDRError(
                .invalidState,
                "\(path)/\(name) already exists and init never replaces a file it did not create; move it away, pick another --system, or use --force (which deletes it)"
            )
        }
        let made: [String]
        do { made = try Directory.make(path, sys: sys) } catch { throw RDRError(.io, error.description) }
        let lockPath = path + "/" + SystemLock.fileName
        let lockExisted = Directory.exists(lockPath, sys: sys)
        var system: RDRSystem?
        do {
            let lock = try SystemLock.acquire(systemPath: path, command: command, sys: sys)
            defer { lock.release() }
            let created = try RDRSystem.create(
                at: path, disks: disks, primary: primary, force: force, cancellation: cancellation)
            system = created
            // A healthy machine model for the readiness check, and a fresh session and log.
            try SystemModel.healthy.save(created)
            for leftover in sessionFiles { try? Directory.removeTree(path + "/" + leftover, sys: sys) }
            return try RDRSystem.open(at: path)
        } catch {
            system?.removeFiles()
            if !lockExisted { _ = sys.unlink(lockPath) }
            Directory.removeCreated(made, sys: sys)
            throw error
        }
    }
}
