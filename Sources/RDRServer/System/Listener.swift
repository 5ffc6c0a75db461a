import Glibc
import RDR

/// A listening socket: a Unix socket (mode 0600) or a TCP address. `accept` blocks until a
/// client comes or `stop` is called; `close` removes a Unix socket's file.
public final class Listener: @unchecked Sendable {
    let fd: Int32
    /// Where clients connect: `unix:/path` or `tcp:127.0.0.1:10809`.
    public let address: String
    /// The URI an NBD client uses for `export` (`nbd+unix:///EXPORT?socket=…`, `nbd://HOST:PORT/EXPORT`).
    public let uriTemplate: String
    private let unlinkPath: String?

    init(fd: Int32, address: String, uriTemplate: String, unlinkPath: String?) {
        self.fd = fd
        self.address = address
        self.uriTemplate = uriTemplate
        self.unlinkPath = unlinkPath
    }

    /// The NBD URI of `export` on this listener.
    public func uri(export: String) -> String {
        uriTemplate.replacing("{export}", with: Self.percentEncoded(export, keeping: "@"))
    }

    /// `text` with every byte but RFC 3986's unreserved ones and `keeping` percent-encoded, so a
    /// socket path or export name with spaces or `?`, `#`, `&` gives a URI clients can parse.
    static func percentEncoded(_ text: String, keeping: String) -> String {
        let kept = Set(("-._~" + keeping).utf8)
        var out = ""
        for byte in text.utf8 {
            let alphanumeric =
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
            if alphanumeric || kept.contains(byte) {
                out.unicodeScalars.append(UnicodeScalar(byte))
            } else {
                out +=
                    "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 15, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// The next client, or nil once the listener was stopped.
    func accept() -> Socket? {
        while true {
            let client = Glibc.accept(fd, nil, nil)
            if client >= 0 {
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)  // accept4 needs _GNU_SOURCE, which Glibc's module lacks
                return Socket(fd: client)
            }
            switch errno {
            case EINTR, ECONNABORTED, EPROTO: continue
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                usleep(50_000)  // out of descriptors or memory: wait for connections to end
                continue
            default: return nil  // EINVAL after shutdown(): the listener was stopped
            }
        }
    }

    /// Wakes a thread blocked in `accept` (Linux returns EINVAL to it) and refuses new clients.
    func stop() { _ = shutdown(fd, Int32(SHUT_RDWR)) }

    /// Closes a listener that was never served (`NBDServer.stop` closes the others).
    public func close() {
        _ = Glibc.close(fd)
        if let unlinkPath { _ = unlink(unlinkPath) }
    }
}
