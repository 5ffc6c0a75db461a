import Glibc
import NBDWire
import RDR

/// One client on its own reader thread: the greeting, option haggling (`Connection+Handshake`),
/// then the request loop. The reader decodes each request, refuses what is invalid on the spot,
/// admits the rest into the budgets (blocking here is the backpressure), reads a WRITE's
/// payload straight into a pooled aligned buffer, and hands the request to the worker pool.
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
    private var scratch = WorkerScratch()
    private var drainBuffer: [UInt8] = []

    init(id: Int, socket: Socket, core: ServerCore) {
        self.id = id
        self.socket = socket
        self.core = core
        deadline = Monotonic.now() + core.configuration.handshakeTimeout
    }

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

    private func transmit(_ t: Transmission) {
        var header = [UInt8](repeating: 0, count: NBDRequest.headerLength)
        while true {
            let got = header.withUnsafeMutableBytes { socket.receive(into: $0.baseAddress!, count: $0.count) }
            guard got == .complete else { return }
            decoder.feed(header)
            let request: NBDRequest
            do throws(NBDWireError) {
                guard case .request(let r)? = try decoder.next() else { return }
                request = r
            } catch {
                guard case .writeTooLarge(let r, _) = error else {
                    return core.log("connection \(id) (\(t.export.name.text)): \(error); connection closed")
                }
                guard skip(Int(r.length), intoDecoder: true),
                    refuse(
                        t, r, .einval,
                        "NBD_CMD_WRITE of \(r.length) bytes is over the maximum payload of \(ServerConfiguration.maxPayload)"
                    )
                else { return }
                continue
            }
            if request.command == .disc { return }
            guard dispatch(t, request) else { return }
        }
    }

    /// Refuses or admits one request; false when the connection must end.
    private func dispatch(_ t: Transmission, _ r: NBDRequest) -> Bool {
        if let (code, message) = RequestValidation.refusal(r, t) {
            return skip(r.payloadLength, intoDecoder: false) && refuse(t, r, code, message)
        }
        let charge = r.command == .read || r.command == .write ? Int(r.length) : 0
        guard t.admit(charge) else { return false }
        let buffer = charge > 0 ? core.buffers.take(charge) : nil
        if r.command == .write, let buffer {
            guard socket.receive(into: buffer.pointer, count: charge) == .complete else {
                t.complete(.init(buffer: buffer, charge: charge))
                return false
            }
            decoder.payloadReadDirectly(charge)
        }
        core.workers.submit(Job(transmission: t, request: r, buffer: buffer, charge: charge))
        return true
    }

    /// Answers `r` with an error at once (counted in the budget like any reply).
    private func refuse(_ t: Transmission, _ r: NBDRequest, _ code: NBDErrno, _ message: String) -> Bool {
        guard t.admit(0) else { return false }
        RequestExecution.fail(Job(transmission: t, request: r, buffer: nil, charge: 0), code, message, &scratch)
        return true
    }

    /// Reads and drops `count` payload bytes of a refused request: fed to the decoder when it is
    /// skipping an over-limit WRITE, else reported as read directly.
    private func skip(_ count: Int, intoDecoder: Bool) -> Bool {
        if drainBuffer.isEmpty && count > 0 { drainBuffer = [UInt8](repeating: 0, count: 64 << 10) }
        var left = count
        while left > 0 {
            let n = min(left, drainBuffer.count)
            let got = drainBuffer.withUnsafeMutableBytes { socket.receive(into: $0.baseAddress!, count: n) }
            guard got == .complete else { return false }
            if intoDecoder {
                decoder.feed(drainBuffer[0..<n])
            } else {
                decoder.payloadReadDirectly(n)
            }
            left -= n
        }
        return true
    }

    /// Waits until every admitted request of this connection has been answered (or dropped, if
    /// the server stopped waiting for this client).
    private func finish(_ t: Transmission) {
        while !t.budget.waitUntilEmpty(seconds: 1) {
            if core.cutOff.load(ordering: .relaxed) { socket.shutdown(Int32(SHUT_RDWR)) }
        }
    }
}
