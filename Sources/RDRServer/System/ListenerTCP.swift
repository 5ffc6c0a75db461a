import Glibc
import RDR

extension Listener {
    /// Listens on TCP `HOST:PORT` (`[ADDR]:PORT` for IPv6; port 0 picks a free one). A host that
    /// is not a loopback address is refused unless `allowRemote`: the server has no TLS and no
    /// authentication, so anyone who can reach the port can read and write every disk.
    public static func tcp(_ hostPort: String, allowRemote: Bool) throws(RDRError) -> Listener {
        let (host, port) = try splitHostPort(hostPort)
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &found)
        guard status == 0, let info = found else {
            throw RDRError(
                .invalidArgument, "cannot resolve --listen host '\(host)': \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(info) }
        guard let address = info.pointee.ai_addr else {
            throw RDRError(.invalidArgument, "no address for --listen host '\(host)'")
        }
        let numeric = numericHost(address, info.pointee.ai_addrlen)
        guard allowRemote || isLoopback(address) else {
            throw RDRError(
                .invalidArgument,
                "refusing to listen on \(numeric) (port \(port)): it is not a loopback address, and rdr serve has no TLS or authentication; add --allow-remote to serve the disks to the network anyway"
            )
        }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RDRError(.io, "cannot create a TCP socket: \(describe(errno))") }
        var on: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, address, info.pointee.ai_addrlen) == 0, listen(fd, 128) == 0 else {
            let e = errno
            _ = Glibc.close(fd)
            throw RDRError(e == EADDRINUSE ? .busy : .io, "cannot listen on \(numeric) port \(port): \(describe(e))")
        }
        let actual = boundPort(fd) ?? port
        let shown = info.pointee.ai_family == AF_INET6 ? "[\(numeric)]:\(actual)" : "\(numeric):\(actual)"
        return Listener(fd: fd, address: "tcp:" + shown, uriTemplate: "nbd://\(shown)/{export}", unlinkPath: nil)
    }

    /// `HOST:PORT` or `[IPv6]:PORT` → (host, port).
    static func splitHostPort(_ text: String) throws(RDRError) -> (String, UInt16) {
        let usage = "--listen wants HOST:PORT (e.g. 127.0.0.1:10809, or [::1]:10809), not '\(text)'"
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw RDRError(.invalidArgument, usage)
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw RDRError(.invalidArgument, usage) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard !host.contains(":") else { throw RDRError(.invalidArgument, usage) }
        }
        guard !host.isEmpty, let port = UInt16(portText) else { throw RDRError(.invalidArgument, usage) }
        return (String(host), port)
    }

    static func isLoopback(_ address: UnsafePointer<sockaddr>) -> Bool {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                UInt32(bigEndian: $0.pointee.sin_addr.s_addr) >> 24 == 127
            }
        case AF_INET6:
            return address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                withUnsafeBytes(of: p.pointee.sin6_addr) { b in
                    let loopback = b.prefix(15).allSatisfy { $0 == 0 } && b[15] == 1
                    let mapped = b.prefix(10).allSatisfy { $0 == 0 } && b[10] == 0xFF && b[11] == 0xFF && b[12] == 127
                    return loopback || mapped
                }
            }
        default:
            return false
        }
    }

    static func numericHost(_ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> String {
        var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(address, length, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0 else {
            return "?"
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func boundPort(_ fd: Int32) -> UInt16? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { return nil }
        return withUnsafePointer(to: &storage) { p -> UInt16 in
            p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }
}
