import FoundationEssentials
import Glibc

/// A system directory: the manifest, each virtual disk's two member images and metadata files,
/// the lock and the published progress records.
public final class RDRSystem: Sendable {
    public let path: String
    public let manifest: Manifest
    public let sys: any SystemCalls

    init(path: String, manifest: Manifest, sys: any SystemCalls) {
        self.path = path
        self.manifest = manifest
        self.sys = sys
    }

    public var manifestPath: String { path + "/" + Manifest.fileName }

    public func file(_ name: String) -> String { path + "/" + name }

    public func progressPath(disk: String) -> String { path + "/" + Self.progressName(disk: disk) }

    /// The progress record a running resync of `disk` publishes (hidden: rdr's own file).
    static func progressName(disk: String) -> String { "." + disk + ".progress.json" }

    public static func exists(at path: String, sys: any SystemCalls = LinuxSystemCalls()) -> Bool {
        Directory.exists(path + "/" + Manifest.fileName, sys: sys)
    }

    /// Reads and validates the manifest of an existing system.
    public static func open(at path: String, sys: any SystemCalls = LinuxSystemCalls()) throws(RDRError) -> RDRSystem {
        let manifestPath = path + "/" + Manifest.fileName
        guard Directory.isDirectory(path, sys: sys) else {
            throw RDRError(
                .invalidArgument,
                "no system at \(path): the directory does not exist; create one with 'rdr init --system \(path)'")
        }
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(manifestPath, .readOnly, sys: sys) } catch {
            if error.code == ENOENT {
                throw RDRError(
                    .invalidArgument,
                    "no system at \(path): \(Manifest.fileName) is missing; create one with 'rdr init --system \(path)'"
                )
            }
            throw RDRError.io(error)
        }
        defer { fd.close() }
        let bytes = try io { () throws(Errno) in try fd.readWholeFile(limit: Manifest.maxBytes) }
        let manifest: Manifest
        do { manifest = try JSONDecoder().decode(Manifest.self, from: Data(bytes)) } catch {
            throw RDRError(
                .corrupt,
                "manifest \(manifestPath) is not valid: \(describe(decoding: error)); restore it from a backup (the member images and metadata are untouched)"
            )
        }
        try manifest.validate(path: manifestPath)
        return RDRSystem(path: path, manifest: manifest, sys: sys)
    }

    /// Opens one virtual disk. `.readOnly` never writes (status); `.readWrite` also rolls a
    /// lagging member's header forward. `identity: .report` opens images that are not the files
    /// the metadata recorded, to look at them (status, verify) or adopt them, never to change them.
    /// In a process that owns the system, a writable disk is the owner's one shared instance,
    /// so forwarded commands, the NBD server and resync threads coordinate through its locks.
    public func disk(_ name: String, access: FileDescriptor.Access = .readWrite, identity: IdentityCheck = .enforce)
        throws(RDRError) -> VirtualDisk
    {
        if access == .readWrite, identity == .enforce, let owner = SystemOwnership.shared.owner(of: path) {
            return try owner.disk(named: name)
        }
        return try VirtualDisk.open(
            system: self, disk: try manifest.disk(named: name), access: access, identity: identity)
    }

    /// Takes the system's lock; refused with the holder named when another process has it.
    /// The holder first removes the temporary files a killed process left behind (not inside
    /// an owner: there the owner swept when it took the flock, and its other threads' temporary
    /// files are live).
    public func lock(command: String) throws(RDRError) -> SystemLock {
        let lock = try SystemLock.acquire(systemPath: path, command: command, sys: sys)
        if !lock.isInProcess { TemporaryFiles.sweep(self) }
        return lock
    }

    /// A shared lock for commands that only read a system (verify): writers wait for them, and
    /// they for writers, but readers run together. Nothing is written, so it works on read-only
    /// media; there, a missing lock file means no writer can exist and no lock is needed (nil).
    public func readLock(command: String) throws(RDRError) -> SystemLock? {
        try SystemLock.acquireShared(systemPath: path, command: command, sys: sys)
    }

    static func describe(decoding error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let ctx):
            return "missing key '\((ctx.codingPath + [key]).map(\.stringValue).joined(separator: "."))'"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return
                "wrong type at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))': \(ctx.debugDescription)"
        case DecodingError.dataCorrupted(let ctx):
            let at = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            return at.isEmpty ? "not JSON (\(ctx.debugDescription))" : "bad value at '\(at)': \(ctx.debugDescription)"
        default:
            return "\(error)"
        }
    }
}
