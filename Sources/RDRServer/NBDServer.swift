import Glibc
import RDR

/// An NBD server (fixed newstyle, proto.md) over RDR virtual disks: every disk is exported as
/// `DISK`, `DISK@production`, `DISK@upgrade`, `DISK@10` and `DISK@11`, with access decided per
/// request by the mirror semantics table. No TLS, no authentication: listen on a Unix socket
/// (mode 0600) or loopback unless the network is trusted.
///
/// Threads: one accepting per listener, one reading per connection, a shared pool executing
/// requests, a writer per connection only while a client is slow to read its replies, and one
/// that flushes disks gone quiet (`QuietSettler`).
public final class NBDServer: Sendable {
    let core: ServerCore
    /// Flushes duplex disks that went quiet (nil for a read-only server, which writes nothing).
    let settler: QuietSettler?
    private let accepting = ConditionLock()
    private nonisolated(unsafe) var listeners: [Listener] = []
    private nonisolated(unsafe) var acceptThreads = 0

    /// `log` receives one line per notable event (a refused request's reason, a protocol error
    /// that closed a connection); it is called from many threads.
    public init(
        disks: any VirtualDiskProvider, configuration: ServerConfiguration = ServerConfiguration(),
        log: @escaping @Sendable (String) -> Void
    ) {
        core = ServerCore(configuration: configuration, disks: disks, log: log)
        settler = configuration.readOnly ? nil : QuietSettler(core: core)
        settler?.start()
    }

    /// Starts accepting clients on `listener` (the server owns it from now on).
    public func serve(_ listener: Listener) throws(RDRError) {
        accepting.withLock {
            listeners.append(listener)
            acceptThreads += 1
        }
        do {
            try Threads.start(name: "rdr-nbd-accept") { [self] in
                acceptLoop(listener)
                accepting.withLock {
                    acceptThreads -= 1
                    accepting.broadcast()
                }
            }
        } catch {
            accepting.withLock { acceptThreads -= 1 }
            throw RDRError(.io, "cannot start a thread to accept clients on \(listener.address): \(error)")
        }
    }

    private func acceptLoop(_ listener: Listener) {
        var refusedSince: Double?
        while let socket = listener.accept() {
            if listener.address.hasPrefix("tcp:") { socket.setNoDelay() }
            guard let id = core.admitConnection(socket) else {
                socket.close()
                if refusedSince == nil && !core.stopping.load(ordering: .relaxed) {
                    core.log(
                        "too many connections (--max-connections \(core.configuration.maxConnections)); new clients are closed until some leave"
                    )
                    refusedSince = Monotonic.now()
                }
                continue
            }
            refusedSince = nil
            let connection = Connection(id: id, socket: socket, core: core)
            do {
                try Threads.start(name: "rdr-nbd-c\(id)") { connection.run() }
            } catch {
                core.ended(id)
                socket.close()
                core.log("cannot start a thread for a new client (\(error)); it was closed")
            }
        }
    }

    /// Wakes and joins the accept threads, then closes the listeners (a Unix socket's file is
    /// removed).
    func stopAccepting() {
        accepting.withLock {
            for listener in listeners { listener.stop() }
            while acceptThreads > 0 { accepting.wait() }
            for listener in listeners { listener.close() }
            listeners.removeAll()
        }
    }

    /// Connections open now (in negotiation or transmission).
    public var connectionCount: Int { core.connectionCount }

    /// Clients in transmission on any export of `disk`.
    public func clientCount(disk: String) -> Int { core.clientCount(disk: disk) }
}
