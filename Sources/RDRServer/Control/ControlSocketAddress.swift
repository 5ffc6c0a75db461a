import Glibc
import RDR

/// Where a system's control socket is, reachable however long the system's path: `sun_path`
/// holds 107 bytes, so a longer path is reached through the directory opened
/// (`/proc/self/fd/N/.rdr.control`, which the kernel resolves like the real path).
enum ControlSocketAddress {
    static func path(system: String) -> String { system + "/" + ControlProtocol.socketName }

    /// Calls `body` with a `sockaddr_un` naming the control socket of `system`; -errno when the
    /// directory cannot be opened.
    static func with(system: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        let direct = path(system: system)
        if direct.utf8.count <= Listener.maxUnixPath { return Listener.withAddress(direct, body) }
        let dir = open(system, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { return -errno }
        defer { _ = close(dir) }
        return Listener.withAddress("/proc/self/fd/\(dir)/" + ControlProtocol.socketName, body)
    }

    /// A stream socket connected to the owner of `system`, or nil when no owner listens there
    /// (no socket file, or a stale one a killed owner left: connect is refused).
    static func connect(system: String) -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        let r = with(system: system) { Glibc.connect(fd, $0, $1) == 0 ? 0 : -errno }
        guard r == 0 else {
            _ = close(fd)
            return nil
        }
        return fd
    }
}
