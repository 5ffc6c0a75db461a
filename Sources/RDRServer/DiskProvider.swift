import RDR
import Synchronization

/// Where the server gets its disks. The server never opens a disk itself: every connection, and
/// whatever else the owner process runs (forwarded commands, resyncs), must share one
/// `VirtualDisk` per disk so their range locks and state mutex coordinate them.
public protocol VirtualDiskProvider: Sendable {
    /// The disks that can be served, in a stable order (NBD_OPT_LIST shows them so).
    var diskNames: [String] { get }
    /// The one shared instance of disk `name`.
    func disk(named name: String) throws(RDRError) -> VirtualDisk
}

/// The simplest provider: the disks of one open system, each opened on first use and kept open
/// for the process's lifetime. `.readOnly` (a read-only server) never writes a metadata file,
/// not even to roll a lagging member's header forward.
public final class SystemDiskProvider: VirtualDiskProvider {
    public let system: RDRSystem
    public let access: FileDescriptor.Access
    private let opened = Mutex<[String: VirtualDisk]>([:])

    public init(system: RDRSystem, access: FileDescriptor.Access = .readWrite) {
        self.system = system
        self.access = access
    }

    public var diskNames: [String] { system.manifest.disks.map(\.name) }

    public func disk(named name: String) throws(RDRError) -> VirtualDisk {
        try opened.withLock { (disks) throws(RDRError) -> VirtualDisk in
            if let disk = disks[name] { return disk }
            let disk = try system.disk(name, access: access)
            disks[name] = disk
            return disk
        }
    }
}
