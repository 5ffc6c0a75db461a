import Glibc
import NBDWire
import RDR
import Synchronization

/// One request admitted by a connection's reader, on its way to a worker.
struct Job: Sendable {
    let transmission: Transmission
    let request: NBDRequest
    /// The READ target or the WRITE payload.
    let buffer: PooledBuffer?
    /// Bytes charged to the budgets (released with the buffer once the reply has left).
    let charge: Int
}

/// What a worker is handed: one request, or WRITEs of one connection to run as a batch.
enum Work: Sendable {
    case request(Job)
    case writes([Job])
}

/// What a worker thread keeps between jobs: the buffer reply headers are encoded into.
struct WorkerScratch {
    var header: [UInt8] = []
    init() { header.reserveCapacity(4096) }
}

/// The state every connection shares: configuration, disks, buffers, budget, workers, the log
/// and the registry of live connections (for the connection cap and for `stop`).
final class ServerCore: @unchecked Sendable {
    let configuration: ServerConfiguration
    let disks: any VirtualDiskProvider
    let buffers: BufferPool
    let budget: Budget
    let log: @Sendable (String) -> Void
    let workers: RequestWorkers<Work>

    private let registry = Mutex(Registry())
    let stopping = Atomic<Bool>(false)
    /// Set when `stop` stops waiting for clients: queued replies are dropped.
    let cutOff = Atomic<Bool>(false)
    private let nextID = Atomic<Int>(1)

    struct Registry {
        var sockets: [Int: Socket] = [:]
        var transmissions: [Int: Transmission] = [:]
        /// Disks a client used, by name: `stop` flushes them.
        var used: [String: VirtualDisk] = [:]
    }

    init(configuration: ServerConfiguration, disks: any VirtualDiskProvider, log: @escaping @Sendable (String) -> Void)
    {
        self.configuration = configuration
        self.disks = disks
        self.log = log
        buffers = BufferPool(keepIdle: configuration.keepIdleBuffers)
        budget = Budget(maxRequests: configuration.totalRequests, maxBytes: configuration.totalBytes)
        workers = RequestWorkers(
            threads: configuration.workerThreads, scratch: { WorkerScratch() },
            execute: { work, scratch in
                switch work {
                case .request(let job): RequestExecution.run(job, &scratch)
                case .writes(let jobs): WriteBatch.run(jobs, &scratch)
                }
            })
    }

    /// Registers a new connection's socket; nil (and nothing registered) past the cap. At the
    /// cap, connections whose client has already closed are cut first (`reapHungUp`) and the
    /// new client waits up to `reapWait` seconds for them to leave: a client that hung up with
    /// requests in flight must not keep a place another client needs. Live clients are never
    /// cut, so with none hung up the new client is closed at once, as before.
    func admitConnection(_ socket: Socket) -> Int? {
        var deadline: Double?
        while true {
            let decision = registry.withLock { r -> Admission in
                guard !stopping.load(ordering: .acquiring) else { return .refused }
                if r.sockets.count < configuration.maxConnections {
                    let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
                    r.sockets[id] = socket
                    return .admitted(id)
                }
                if deadline == nil {
                    guard Self.reapHungUp(&r) > 0 else { return .refused }
                    deadline = Monotonic.now() + Self.reapWait
                }
                return Monotonic.now() < deadline! ? .waiting : .refused
            }
            switch decision {
            case .admitted(let id): return id
            case .refused: return nil
            case .waiting: usleep(1000)  // the reaped connections' readers are ending
            }
        }
    }

    private enum Admission {
        case admitted(Int)
        case refused
        case waiting
    }

    /// How long a new client at the cap waits for hung-up connections to leave.
    static let reapWait = 2.0

    /// Abandons every registered connection whose client has closed (see
    /// `Transmission.abandon`; one still negotiating is shut down, its reader ends); returns how
    /// many. Under the registry lock, so no socket is closed meanwhile.
    private static func reapHungUp(_ r: inout Registry) -> Int {
        var reaped = 0
        for (id, socket) in r.sockets where socket.peerHungUp {
            if let t = r.transmissions[id] { t.abandon() } else { socket.shutdown(Int32(SHUT_RDWR)) }
            reaped += 1
        }
        return reaped
    }

    func entered(_ t: Transmission) {
        registry.withLock { r in
            r.transmissions[t.id] = t
            r.used[t.export.name.disk] = t.export.disk
        }
    }

    /// The connection is done; it closes its socket only after this returns.
    func ended(_ id: Int) {
        registry.withLock { r in
            r.sockets[id] = nil
            r.transmissions[id] = nil
        }
    }

    var connectionCount: Int { registry.withLock { $0.sockets.count } }

    func clientCount(disk: String) -> Int {
        registry.withLock { $0.transmissions.values.filter { $0.export.name.disk == disk }.count }
    }

    var usedDisks: [(String, VirtualDisk)] { registry.withLock { $0.used.sorted { $0.key < $1.key } } }

    /// NBD_CMD_FLUSH: every answered write of every connection made durable on every member.
    /// Usually just fdatasync of the images (`syncData`), which lets other writers go on; at
    /// most every `bitClearInterval` seconds a disk's full `flush` (which waits for the writes
    /// in flight) also clears the bits of synced duplex writes, so a crash then reports
    /// `Resync needed` only for regions written in the last few seconds.
    func flush(_ export: ExportTarget) throws(RDRError) {
        let now = Monotonic.now()
        let clear = lastBitClear.withLock { last -> Bool in
            guard now - (last[export.name.disk] ?? 0) >= Self.bitClearInterval else { return false }
            last[export.name.disk] = now
            return true
        }
        if clear { try export.disk.flush() } else { try export.disk.syncData() }
    }

    static let bitClearInterval = 5.0
    private let lastBitClear = Mutex<[String: Double]>([:])

    /// Shuts down every live connection's socket as `how` says (SHUT_RD: readers see the end
    /// of the stream and finish what is in flight; SHUT_RDWR: replies cannot leave either).
    /// Under the registry lock: a connection leaves the registry before it closes its
    /// descriptor, so the number cannot belong to another file by then.
    func shutdownConnections(_ how: Int32) {
        registry.withLock { r in for socket in r.sockets.values { socket.shutdown(how) } }
    }
}
