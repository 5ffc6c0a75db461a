import Glibc
import NBDWire
import RDR

/// One client on its own reader thread: the greeting, option haggling (`Connection+Handshake`),
/// then the request loop (`Connection+Requests`).
final class Connection: @unchecked Sendable {  // owned by its reader thread alone
    let id: Int
    let socket: Socket
    let core: ServerCore
    var decoder = ClientMessageDecoder(limits: NBDLimits(maxPayload: ServerConfiguration.maxPayload))
    /// What the client agreed so far in option haggling.
    var structured = false
    var noZeroes = false
    var contexts: [MetaContext] = []
    var contextsExport: String?
    let deadline: Double
    /// The reader's own reply buffer (refusals) and scratch for payloads it must skip.
    var scratch = WorkerScratch()
    var drainBuffer: [UInt8] = []
    /// Where the request loop receives the client's bytes, many requests at a time.
    let input = UnsafeMutableRawBufferPointer.allocate(byteCount: Connection.inputSize, alignment: 16)
    /// WRITEs read but not yet handed to a worker (see `Connection+Requests`).
    var writes: [Job] = []
    var writeBytes = 0

    init(id: Int, socket: Socket, core: ServerCore) {
        self.id = id
        self.socket = socket
        self.core = core
        deadline = Monotonic.now() + core.configuration.handshakeTimeout
    }

    deinit { input.deallocate() }

    /// The connection's whole life; the socket is closed when it returns.
    func run() {
        defer {
            core.ended(id)
            socket.close()
        }
        guard let target = negotiate() else { return }
        let t = Transmission(
            id: id, socket: socket, core: core, export: target, structured: structured,
            contexts: contextsExport == target.name.text ? contexts : [],
            flags: transmissionFlags)
        core.entered(t)
        // No receive timeout between requests (a client may idle); a send timeout so a writer
        // blocked on a client that never reads can notice the server stopping.
        socket.setTimeouts(receive: nil, send: 1)
        transmit(t)
        // A client that closed (rather than only shut down its sending side) reads no reply.
        if socket.peerHungUp { t.abandon() }
        finish(t)
    }

    /// What every export offers on this connection.
    var transmissionFlags: TransmissionFlags {
        var flags: TransmissionFlags = [.hasFlags, .sendFlush, .sendCache, .canMultiConn]
        if core.configuration.readOnly {
            flags.insert(.readOnly)
        } else {
            flags.formUnion([.sendFUA, .sendTrim, .sendWriteZeroes, .sendFastZero])
        }
        if structured { flags.insert(.sendDF) }
        return flags
    }

    /// Waits until every admitted request of this connection has been answered (or dropped, if
    /// the server stopped waiting for this client).
    private func finish(_ t: Transmission) {
        while !t.budget.waitUntilEmpty(seconds: 1) {
            if core.cutOff.load(ordering: .relaxed) { socket.shutdown(Int32(SHUT_RDWR)) }
        }
    }
}
