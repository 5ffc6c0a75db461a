import RDR

/// Requests and buffered bytes in flight, with caps: a reader that would exceed one waits
/// (stops reading its socket) until replies have left. This is the server's backpressure: the
/// kernel's socket buffers then push back on the client.
///
/// One request is always admitted when nothing is in flight, so a request larger than the
/// byte cap cannot wait for ever.
final class Budget: @unchecked Sendable {
    let maxRequests: Int
    let maxBytes: Int
    private let lock = ConditionLock()
    private var requests = 0
    private var bytes = 0
    private var closed = false

    init(maxRequests: Int, maxBytes: Int) {
        self.maxRequests = max(1, maxRequests)
        self.maxBytes = max(1, maxBytes)
    }

    /// Waits for room for one request of `count` bytes and takes it; false once `close`d.
    func acquire(_ count: Int) -> Bool {
        lock.withLock {
            while !closed && requests > 0 && (requests >= maxRequests || bytes + count > maxBytes) {
                lock.wait()
            }
            guard !closed else { return false }
            requests += 1
            bytes += count
            return true
        }
    }

    /// Takes room for one request of `count` bytes if there is room now; never waits.
    func tryAcquire(_ count: Int) -> Bool {
        lock.withLock {
            guard !closed, requests == 0 || (requests < maxRequests && bytes + count <= maxBytes) else { return false }
            requests += 1
            bytes += count
            return true
        }
    }

    /// Gives back `requests` requests of `count` bytes in all.
    func release(_ count: Int, requests released: Int = 1) {
        lock.withLock {
            requests -= released
            bytes -= count
            lock.broadcast()
        }
    }

    /// Waits until nothing is in flight (or `seconds` pass); true when empty.
    func waitUntilEmpty(seconds: Double) -> Bool {
        let deadline = Monotonic.now() + seconds
        return lock.withLock {
            while requests > 0 {
                let left = deadline - Monotonic.now()
                if left <= 0 { return false }
                lock.wait(seconds: left)
            }
            return true
        }
    }

    /// Wakes every waiter; later `acquire`s fail. (Releases still count down.)
    func close() {
        lock.withLock {
            closed = true
            lock.broadcast()
        }
    }

    var inFlight: (requests: Int, bytes: Int) { lock.withLock { (requests, bytes) } }
}
