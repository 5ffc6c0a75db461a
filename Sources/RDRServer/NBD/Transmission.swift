import Glibc
import NBDWire
import RDR
import Synchronization

/// A connection in the transmission phase: what was negotiated, its own budget (requests and
/// bytes in flight), and its reply path. Workers of the shared pool call `send` concurrently;
/// the send lock keeps each reply's bytes together on the wire.
///
/// A worker never blocks on the socket for long: it sends without blocking, waits at most
/// `patience` for a client to drain a full socket buffer, and otherwise queues the rest of the
/// reply for this connection's writer thread (started on demand). So a client that stops
/// reading holds only its own budget's worth of memory and no worker; every other client keeps
/// being served.
final class Transmission: @unchecked Sendable {
    let id: Int
    let socket: Socket
    let core: ServerCore
    let export: ExportTarget
    let structured: Bool
    let contexts: [MetaContext]
    let flags: TransmissionFlags
    let budget: Budget

    private let sendLock = ConditionLock()
    private var pending: [PendingReply] = []
    private var writerRunning = false
    private var broken = false
    private let abandoned = Atomic<Bool>(false)
    private let lastRefusal = Mutex<String?>(nil)

    /// How long a worker waits for a client to drain its socket before it queues the rest of
    /// a reply for the writer thread (seconds). Waiting holds this connection's send lock only.
    static let patience = 0.02

    /// What releasing a reply gives back: its buffer and the bytes charged for it (and how
    /// many requests it answers: one, or a `WriteBatch`).
    struct Completion {
        let buffer: PooledBuffer?
        let charge: Int
        var requests = 1
    }

    /// The unsent rest of a reply that could not leave at once.
    private struct PendingReply {
        var header: [UInt8]
        var headerSent = 0
        let data: UnsafeRawBufferPointer
        var dataSent = 0
        let completion: Completion
    }

    init(
        id: Int, socket: Socket, core: ServerCore, export: ExportTarget, structured: Bool, contexts: [MetaContext],
        flags: TransmissionFlags
    ) {
        self.id = id
        self.socket = socket
        self.core = core
        self.export = export
        self.structured = structured
        self.contexts = contexts
        self.flags = flags
        budget = Budget(
            maxRequests: core.configuration.connectionRequests, maxBytes: core.configuration.connectionBytes)
    }

    /// Takes room for one request of `charge` data bytes in this connection's budget and the
    /// server's; false when the server stops, or (without `wait`) when either is full now.
    func admit(_ charge: Int, wait: Bool) -> Bool {
        guard wait ? budget.acquire(charge) : budget.tryAcquire(charge) else { return false }
        guard wait ? core.budget.acquire(charge) : core.budget.tryAcquire(charge) else {
            budget.release(charge)
            return false
        }
        return true
    }

    /// A reply has left (or can never leave): give its buffer and budget back.
    func complete(_ c: Completion) {
        if let buffer = c.buffer { core.buffers.give(buffer) }
        core.budget.release(c.charge, requests: c.requests)
        budget.release(c.charge, requests: c.requests)
    }

    /// The client is gone (it closed with requests in flight): its replies are dropped, its
    /// queued reads are not performed (`RequestExecution`), and the socket is shut down so a
    /// send blocked on it ends. The connection then leaves as soon as its reader has seen the
    /// end and its admitted requests are counted out, instead of holding a place under the
    /// connection cap while workers read data nobody will receive.
    func abandon() {
        abandoned.store(true, ordering: .releasing)
        sendLock.withLock {
            broken = true
            sendLock.broadcast()
        }
        socket.shutdown(Int32(SHUT_RDWR))
    }

    var isAbandoned: Bool { abandoned.load(ordering: .acquiring) }

    /// Sends one reply (`header` then `data`), or queues what the socket does not take now.
    func send(header: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer, completion: Completion) {
        sendLock.lock()
        if broken {
            sendLock.unlock()
            return complete(completion)
        }
        let reply: PendingReply
        if pending.isEmpty {
            // A client that reads keeps up within a few milliseconds; only one that does not
            // gets its replies queued for the writer thread.
            let n = socket.send(header, data, patience: Self.patience)
            let total = header.count + data.count
            if n == total {
                sendLock.unlock()
                return complete(completion)
            }
            if n < 0 && n != -Int(EAGAIN) {
                broken = true
                sendLock.unlock()
                socket.shutdown(Int32(SHUT_RDWR))  // the reader sees it and ends the connection
                return complete(completion)
            }
            reply = remainder(header, data, sent: max(n, 0), completion)
        } else {
            reply = remainder(header, data, sent: 0, completion)
        }
        pending.append(reply)
        let startWriter = !writerRunning
        if writerRunning { sendLock.signal() }
        writerRunning = true
        sendLock.unlock()
        guard startWriter else { return }
        do {
            try Threads.start(name: "rdr-nbd-out\(id)") { [self] in writeQueued() }
        } catch {
            failQueued()
        }
    }

    private func remainder(_ header: UnsafeRawBufferPointer, _ data: UnsafeRawBufferPointer, sent: Int, _ c: Completion)
        -> PendingReply
    {
        let headerSent = min(sent, header.count)
        return PendingReply(
            header: Array(header[headerSent...]), data: data, dataSent: sent - headerSent, completion: c)
    }

    /// The writer thread: sends the queued replies in order, blocking, and ends once the queue
    /// has stayed empty for a second (a client reading large replies keeps one writer instead of
    /// starting one per reply). SO_SNDTIMEO wakes it now and then, so a server that stops can
    /// cut off a client that never reads again.
    private func writeQueued() {
        while true {
            sendLock.lock()
            if pending.isEmpty && !broken { sendLock.wait(seconds: 1) }
            guard !broken, var reply = pending.first else {
                let dropped = pending
                pending.removeAll()
                writerRunning = false
                sendLock.unlock()
                for r in dropped { complete(r.completion) }
                return
            }
            sendLock.unlock()
            let sent = sendBlocking(&reply)
            sendLock.lock()
            pending.removeFirst()
            if !sent { broken = true }
            sendLock.unlock()
            if !sent { socket.shutdown(Int32(SHUT_RDWR)) }
            complete(reply.completion)
        }
    }

    private func sendBlocking(_ reply: inout PendingReply) -> Bool {
        while reply.headerSent < reply.header.count || reply.dataSent < reply.data.count {
            let n = reply.header.withUnsafeBytes { header in
                socket.send(
                    UnsafeRawBufferPointer(rebasing: header[reply.headerSent...]),
                    UnsafeRawBufferPointer(rebasing: reply.data[reply.dataSent...]), wait: true)
            }
            if n == -Int(EAGAIN) {
                if core.cutOff.load(ordering: .relaxed) { return false }
                continue
            }
            guard n > 0 else { return false }
            let toHeader = min(n, reply.header.count - reply.headerSent)
            reply.headerSent += toHeader
            reply.dataSent += n - toHeader
        }
        return true
    }

    /// No writer thread could be started: the replies cannot leave, so the connection ends.
    private func failQueued() {
        sendLock.lock()
        broken = true
        let dropped = pending
        pending.removeAll()
        writerRunning = false
        sendLock.unlock()
        socket.shutdown(Int32(SHUT_RDWR))
        core.log("connection \(id): no thread to send replies (out of threads?); connection closed")
        for r in dropped { complete(r.completion) }
    }

    /// Logs why a request was refused access, once per distinct reason per connection (a
    /// client retrying in a loop must not flood the log).
    func logRefusal(_ message: String) {
        let fresh = lastRefusal.withLock { last -> Bool in
            defer { last = message }
            return last != message
        }
        if fresh { core.log("connection \(id) (\(export.name.text)): requests refused with EPERM: \(message)") }
    }
}
