import Foundation
import Glibc

/// A system directory: the manifest, each virtual disk's two member images and metadata files,
/// the lock and the published progress records.
public final class RDRSystem: Sendable {
    public let path: String
    public let manifest: Manifest
    public let sys: any SystemCalls

    private init(path: String, manifest: Manifest, sys: any SystemCalls) {
        self.path = path
        self.manifest = manifest
        self.sys = sys
    }

    public var manifestPath: String { path + "/" + Manifest.fileName }

    public func file(_ name: String) -> String { path + "/" + name }

    public func progressPath(disk: String) -> String { path + "/." + disk + ".progress.json" }

    public static func exists(at path: String) -> Bool {
        access(path + "/" + Manifest.fileName, F_OK) == 0
    }

    /// Reads and validates the manifest of an existing system.
    public static func open(at path: String, sys: any SystemCalls = LinuxSystemCalls()) throws(RDRError) -> RDRSystem {
        let manifestPath = path + "/" + Manifest.fileName
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw RDRError(.invalidArgument, "no system at \(path): the directory does not exist; create one with 'rdr init --system \(path)'")
        }
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(manifestPath, .readOnly, sys: sys) } catch {
            if error.code == ENOENT {
                throw RDRError(.invalidArgument, "no system at \(path): \(Manifest.fileName) is missing; create one with 'rdr init --system \(path)'")
            }
            throw RDRError.io(error)
        }
        defer { fd.close() }
        let bytes = try io { () throws(Errno) in try fd.readWholeFile(limit: 16 << 20) }
        let manifest: Manifest
        do { manifest = try JSONDecoder().decode(Manifest.self, from: Data(bytes)) } catch {
            throw RDRError(.corrupt, "manifest \(manifestPath) is not valid: \(describe(decoding: error)); restore it or recreate the system with 'rdr init --force'")
        }
        try manifest.validate(path: manifestPath)
        return RDRSystem(path: path, manifest: manifest, sys: sys)
    }

    /// Creates a system: images (sparse), metadata, then the manifest last, so a system without
    /// a manifest is never mistaken for a complete one. The caller holds the system lock.
    public static func create(at path: String, disks: [DiskSpec], primary: Enclosure, force: Bool,
                              sys: any SystemCalls = LinuxSystemCalls()) throws(RDRError) -> RDRSystem {
        var names = Set<String>()
        for d in disks {
            try d.validate()
            guard names.insert(d.name).inserted else { throw RDRError(.invalidArgument, "disk '\(d.name)' is given twice") }
        }
        guard !disks.isEmpty else { throw RDRError(.invalidArgument, "a system needs at least one disk") }
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw RDRError(.io, "cannot create directory \(path): \(error.localizedDescription)")
        }
        let old: RDRSystem? = exists(at: path) ? try? open(at: path, sys: sys) : nil
        if exists(at: path) && !force {
            throw RDRError(.invalidState, "a system already exists at \(path); use --force to replace it (its images are deleted) or pick another --system")
        }
        // Remove what the old manifest names, and the manifest first so a crash leaves no half system.
        if exists(at: path) {
            _ = sys.unlink(path + "/" + Manifest.fileName)
            for d in old?.manifest.disks ?? [] {
                for m in d.members {
                    _ = sys.unlink(path + "/" + m.image)
                    _ = sys.unlink(path + "/" + m.metadata)
                }
                _ = sys.unlink(path + "/." + d.name + ".progress.json")
            }
        }
        var manifestDisks: [Manifest.Disk] = []
        let generation = UInt64.random(in: 1...UInt64.max)
        for d in disks {
            let id = MirrorID.random()
            var members: [Manifest.Member] = []
            for e in Enclosure.allCases {
                let image = "\(d.name)-\(e).img"
                let meta = "\(d.name)-\(e).rdrmeta"
                try io { () throws(Errno) in
                    let fd = try FileDescriptor.create(path + "/" + image, replace: true, sys: sys)
                    defer { fd.close() }
                    try fd.truncate(to: d.size)
                    try fd.sync()
                    let header = MemberHeader(mirrorID: id, diskName: d.name, enclosure: e, size: d.size,
                                              regionSize: d.regionSize, record: .fresh(generation: generation, primary: primary))
                    _ = try MetadataFile.create(path: path + "/" + meta, header: header, allDirty: false, replace: true, sys: sys)
                }
                members.append(Manifest.Member(enclosure: e.rawValue, image: image, metadata: meta))
            }
            manifestDisks.append(Manifest.Disk(name: d.name, role: d.role, size: d.size, regionSize: d.regionSize,
                                               mirrorID: MirrorID.hex(id), members: members))
        }
        let manifest = Manifest(format: Manifest.formatName, primary: primary.rawValue, disks: manifestDisks)
        try io { () throws(Errno) in
            try Directory.writeAtomically(manifest.encoded(), to: path + "/" + Manifest.fileName, sys: sys)
        }
        return RDRSystem(path: path, manifest: manifest, sys: sys)
    }

    /// Opens one virtual disk. `.readOnly` never writes (status); `.readWrite` also rolls a
    /// lagging member's header forward.
    public func disk(_ name: String, access: FileDescriptor.Access = .readWrite) throws(RDRError) -> VirtualDisk {
        try VirtualDisk.open(system: self, disk: try manifest.disk(named: name), access: access)
    }

    /// Takes the system's lock; refused with the holder named when another process has it.
    public func lock(command: String) throws(RDRError) -> SystemLock {
        try SystemLock.acquire(systemPath: path, command: command, sys: sys)
    }

    static func describe(decoding error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let ctx):
            return "missing key '\((ctx.codingPath + [key]).map(\.stringValue).joined(separator: "."))'"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return "wrong type at '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))': \(ctx.debugDescription)"
        case DecodingError.dataCorrupted(let ctx):
            let at = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            return at.isEmpty ? "not JSON (\(ctx.debugDescription))" : "bad value at '\(at)': \(ctx.debugDescription)"
        default:
            return "\(error)"
        }
    }
}
