import Glibc
import RDR

/// A connected stream socket (Unix or TCP). Reads are exact (a message header, a WRITE payload
/// straight into its buffer); sends gather a reply header and its data into one `sendmsg`, so
/// READ data goes from the aligned buffer to the kernel without a copy in between.
struct Socket: Sendable {
    let fd: Int32

    enum Received: Equatable {
        case complete
        /// The peer closed (or shut down its sending side) before `count` bytes came.
        case closed
        /// SO_RCVTIMEO expired before `count` bytes came.
        case timedOut
        case failed(Int32)
    }

    /// Reads exactly `count` bytes into `buffer`.
    func receive(into buffer: UnsafeMutableRawPointer, count: Int) -> Received {
        var done = 0
        while done < count {
            let n = recv(fd, buffer + done, count - done, Int32(MSG_WAITALL))
            if n > 0 {
                done += n
                continue
            }
            if n == 0 { return .closed }
            switch errno {
            case EINTR: continue
            case EAGAIN: return .timedOut
            case ECONNRESET: return .closed
            case let e: return .failed(e)
            }
        }
        return .complete
    }

    /// Receives what the socket holds, up to `buffer.count` bytes (many requests in one call):
    /// the count (> 0); 0 when nothing is there and `wait` is false; -1 at the end of the
    /// stream or on an error.
    func receiveAvailable(into buffer: UnsafeMutableRawBufferPointer, wait: Bool) -> Int {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, wait ? 0 : Int32(MSG_DONTWAIT))
            if n > 0 { return n }
            if n == 0 { return -1 }
            switch errno {
            case EINTR: continue
            case EAGAIN where !wait: return 0
            default: return -1
            }
        }
    }

    /// Sends `header` then `data` with one `sendmsg`; returns the bytes the kernel took, or
    /// -errno. Without `wait` it never blocks (MSG_DONTWAIT: -EAGAIN when the buffer is full).
    func send(_ header: UnsafeRawBufferPointer, _ data: UnsafeRawBufferPointer, wait: Bool) -> Int {
        let flags = Int32(MSG_NOSIGNAL) | (wait ? 0 : Int32(MSG_DONTWAIT))
        return withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2) { iov in
            iov[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: header.baseAddress), iov_len: header.count)
            iov[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: data.baseAddress), iov_len: data.count)
            var message = msghdr()
            message.msg_iov = iov.baseAddress
            message.msg_iovlen = data.count > 0 ? 2 : 1
            while true {
                let n = sendmsg(fd, &message, flags)
                if n >= 0 { return n }
                if errno == EINTR { continue }
                return -Int(errno)
            }
        }
    }

    /// Sends `header` then `data` without blocking longer than `patience` seconds in all: when
    /// the socket buffer is full it waits (poll) for the client to drain it. Returns the bytes
    /// sent (fewer than all when the client was too slow), or -errno on an error.
    func send(_ header: UnsafeRawBufferPointer, _ data: UnsafeRawBufferPointer, patience: Double) -> Int {
        let total = header.count + data.count
        let deadline = Monotonic.now() + patience
        var sent = 0
        while sent < total {
            let h = min(sent, header.count)
            let n = send(
                UnsafeRawBufferPointer(rebasing: header[h...]), UnsafeRawBufferPointer(rebasing: data[(sent - h)...]),
                wait: false)
            if n > 0 {
                sent += n
                continue
            }
            guard n == -Int(EAGAIN) else { return sent > 0 ? sent : n }
            let left = Int32((deadline - Monotonic.now()) * 1000)
            guard left > 0 else { break }
            var ready = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            if poll(&ready, 1, left) < 0 && errno != EINTR { break }
        }
        return sent
    }

    /// Sends all of `bytes`, blocking (handshake replies; SO_SNDTIMEO bounds the wait).
    /// Returns 0, or the errno that stopped it.
    func sendAll(_ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = send(
                    UnsafeRawBufferPointer(rebasing: raw[done...]), UnsafeRawBufferPointer(start: nil, count: 0),
                    wait: true)
                if n < 0 { return Int32(-n) }
                done += n
            }
            return 0
        }
    }

    /// SO_RCVTIMEO / SO_SNDTIMEO; nil or 0 means wait for ever.
    func setTimeouts(receive: Double?, send: Double?) {
        for (option, seconds) in [(SO_RCVTIMEO, receive), (SO_SNDTIMEO, send)] {
            let s = max(0, seconds ?? 0)
            var value = timeval(tv_sec: Int(s), tv_usec: Int((s - Double(Int(s))) * 1e6))
            if s > 0 && value.tv_sec == 0 && value.tv_usec == 0 { value.tv_usec = 1 }
            _ = setsockopt(fd, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
        }
    }

    /// TCP_NODELAY: a reply goes out at once instead of waiting to be merged with the next.
    func setNoDelay() {
        var on: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Whether the peer has closed its end for good (not merely shut down its sending side, after
    /// which a client may still read its replies): poll's POLLHUP/POLLERR, without waiting. A
    /// Unix socket reports it as soon as the client closes; TCP once a send was refused.
    var peerHungUp: Bool {
        var state = pollfd(fd: fd, events: 0, revents: 0)
        guard poll(&state, 1, 0) == 1 else { return false }
        return Int32(state.revents) & (Int32(POLLHUP) | Int32(POLLERR)) != 0
    }

    /// Wakes a thread blocked on this socket (SHUT_RD: its reads return end of stream).
    func shutdown(_ how: Int32) { _ = Glibc.shutdown(fd, how) }

    func close() { _ = Glibc.close(fd) }
}
