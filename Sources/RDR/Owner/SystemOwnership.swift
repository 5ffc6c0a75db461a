import Glibc
import Synchronization

/// The systems this process owns: it holds their `.rdr.lock` by flock (`rdr serve`, a background
/// resync worker) and runs other `rdr` processes' commands for them in-process.
///
/// One registry per process, a global on purpose: ownership is a property of the process (the
/// kernel grants the flock to this process's open file description), and every part of the
/// process that opens the system — a forwarded command, the NBD server, a resync thread — must
/// find the same shared disks and the same in-process lock without being handed them through
/// every layer in between. Nothing else is global; a process that owns nothing pays one
/// dictionary lookup per disk open.
public final class SystemOwnership: Sendable {
    public static let shared = SystemOwnership()

    private let owned = Mutex<[String: OwnedSystem]>([:])

    private init() {}

    /// Makes this process the owner of `system`, whose `.rdr.lock` it holds as `lock`. From
    /// here `RDRSystem.disk` hands out shared disks and `RDRSystem.lock` in-process locks.
    public func register(_ system: RDRSystem, lock: SystemLock) throws(RDRError) -> OwnedSystem {
        let key = Self.key(system.path)
        return try owned.withLock { (owned) throws(RDRError) -> OwnedSystem in
            guard owned[key] == nil else {
                throw RDRError(.busy, "system \(system.path) is already owned by this process (pid \(getpid()))")
            }
            let owner = OwnedSystem(system: system, key: key, lock: lock)
            owned[key] = owner
            return owner
        }
    }

    /// The owner record of the system at `path` when this process owns it.
    public func owner(of path: String) -> OwnedSystem? {
        owned.withLock { owned in owned.isEmpty ? nil : owned[Self.key(path)] }
    }

    func unregister(_ owner: OwnedSystem) {
        owned.withLock { owned in
            if owned[owner.key] === owner { owned[owner.key] = nil }
        }
    }

    /// The canonical path of a system directory: one system reached by two spellings (relative,
    /// through a symlink) is one owned system.
    static func key(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
