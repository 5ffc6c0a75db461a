import Glibc
import RDR

extension Listener {
    /// `sun_path` holds 108 bytes including the terminating NUL.
    static let maxUnixPath = 107

    /// Listens on a Unix socket at `path`, mode 0600 (only the owner may connect: there is no
    /// authentication). A stale socket file (nobody accepts on it) is replaced; a live one, or
    /// a file that is not a socket, is refused.
    public static func unix(path: String) throws(RDRError) -> Listener {
        guard path.utf8.count <= maxUnixPath else {
            throw RDRError(
                .invalidArgument,
                "socket path \(path) is \(path.utf8.count) bytes long; a Unix socket path may have at most \(maxUnixPath): use a shorter --socket"
            )
        }
        try removeStaleSocket(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RDRError(.io, "cannot create a Unix socket: \(describe(errno))") }
        let bound = withAddress(path) { bind(fd, $0, $1) }
        guard bound == 0 else {
            let e = errno
            _ = Glibc.close(fd)
            throw RDRError(.io, "cannot bind the Unix socket \(path): \(describe(e))")
        }
        // Before listen(), so nobody can connect while the mode still comes from the umask.
        guard chmod(path, 0o600) == 0, listen(fd, 128) == 0 else {
            let e = errno
            _ = Glibc.close(fd)
            _ = unlink(path)
            throw RDRError(.io, "cannot listen on the Unix socket \(path): \(describe(e))")
        }
        let uri = "nbd+unix:///{export}?socket=" + Listener.percentEncoded(path, keeping: "/")
        return Listener(fd: fd, address: "unix:" + path, uriTemplate: uri, unlinkPath: path)
    }

    private static func removeStaleSocket(_ path: String) throws(RDRError) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw RDRError(.invalidArgument, "\(path) exists and is not a socket; remove it or choose another --socket")
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return }
        defer { _ = Glibc.close(probe) }
        if withAddress(path, { connect(probe, $0, $1) }) == 0 {
            throw RDRError(.busy, "another server is listening on \(path); stop it or choose another --socket")
        }
        _ = unlink(path)
    }

    /// Calls `body` with a `sockaddr_un` for `path` (the caller checked its length).
    static func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}

func describe(_ code: Int32) -> String { String(cString: strerror(code)) }
