import Glibc
import NBDWire
import RDR

/// The request loop. The reader receives as many bytes as the socket holds (up to
/// `inputSize`), decodes every whole request in them, refuses what is invalid on the spot,
/// admits the rest into the budgets (blocking there is the backpressure), moves a WRITE's
/// payload into a pooled aligned buffer, and hands the requests to the worker pool.
///
/// WRITEs that arrive together go to one worker as one batch (`WriteBatch`): one range lock,
/// one write-intent commit and one reply `sendmsg` for all of them, instead of a thread wake-up,
/// the locks and a send per 4 KiB (fio, 4 × 16 random 4 KiB writes, was most of the server's
/// time). A batch is handed over as soon as no further request is waiting in the socket, and
/// before the reader blocks, so no request waits for a later one.
extension Connection {
    static let inputSize = 64 << 10
    /// A batch ends at this many WRITEs or payload bytes (larger writes go one by one, to
    /// several workers at once).
    static let batchRequests = 64
    static let batchBytes = 1 << 20

    func transmit(_ t: Transmission) {
        defer { submitWrites() }
        while true {
            let request: NBDRequest
            do throws(NBDWireError) {
                guard case .request(let r)? = try decoder.next() else {
                    guard receiveMore() else { return }
                    continue
                }
                request = r
            } catch {
                guard case .writeTooLarge(let r, _) = error else {
                    return core.log("connection \(id) (\(t.export.name.text)): \(error); connection closed")
                }
                // The decoder drops the payload as it arrives.
                let message =
                    "NBD_CMD_WRITE of \(r.length) bytes is over the maximum payload of \(ServerConfiguration.maxPayload)"
                guard refuse(t, r, .einval, message) else { return }
                continue
            }
            if request.command == .disc { return }
            guard dispatch(t, request) else { return }
        }
    }

    /// Feeds the decoder what the socket holds; when it holds nothing, hands the pending WRITEs
    /// to a worker first, then waits. False at the end of the stream or on an error. (With no
    /// WRITE pending it waits at once: one `recv` per wait, not a failed one before it.)
    private func receiveMore() -> Bool {
        var n = writes.isEmpty ? 0 : socket.receiveAvailable(into: input, wait: false)
        if n == 0 {
            submitWrites()
            n = socket.receiveAvailable(into: input, wait: true)
        }
        guard n > 0 else { return false }
        decoder.feed(UnsafeRawBufferPointer(rebasing: input[..<n]))
        return true
    }

    /// Refuses or admits one request; false when the connection must end.
    private func dispatch(_ t: Transmission, _ r: NBDRequest) -> Bool {
        if let (code, message) = RequestValidation.refusal(r, t) {
            return discardPayload(r.payloadLength) && refuse(t, r, code, message)
        }
        let charge = r.command == .read || r.command == .write ? Int(r.length) : 0
        if !t.admit(charge, wait: false) {
            submitWrites()  // they may be what fills the budget
            guard t.admit(charge, wait: true) else { return false }
        }
        let buffer = charge > 0 ? core.buffers.take(charge) : nil
        let job = Job(transmission: t, request: r, buffer: buffer, charge: charge)
        guard r.command == .write, let buffer else {
            submitWrites()
            core.workers.submit(.request(job))
            return true
        }
        guard receivePayload(into: buffer, count: charge) else {
            t.complete(.init(buffer: buffer, charge: charge))
            return false
        }
        if charge > Self.batchBytes / 4 {
            submitWrites()
            core.workers.submit(.request(job))
            return true
        }
        if writeBytes + charge > Self.batchBytes || writes.count == Self.batchRequests { submitWrites() }
        writes.append(job)
        writeBytes += charge
        return true
    }

    /// The pending WRITEs, to one worker.
    func submitWrites() {
        guard !writes.isEmpty else { return }
        core.workers.submit(writes.count == 1 ? .request(writes[0]) : .writes(writes))
        writes.removeAll(keepingCapacity: true)
        writeBytes = 0
    }

    /// A WRITE's payload: the bytes already received, then the rest straight from the socket
    /// (after handing over the pending WRITEs if the rest has not arrived yet).
    private func receivePayload(into buffer: PooledBuffer, count: Int) -> Bool {
        let fed = decoder.readPayload(into: UnsafeMutableRawBufferPointer(start: buffer.pointer, count: count))
        guard fed < count else { return true }
        let rest = UnsafeMutableRawBufferPointer(start: buffer.pointer + fed, count: count - fed)
        var got = socket.receiveAvailable(into: rest, wait: false)
        if got >= 0 && got < rest.count {
            submitWrites()
            guard socket.receive(into: rest.baseAddress! + got, count: rest.count - got) == .complete else {
                return false
            }
            got = rest.count
        }
        guard got == rest.count else { return false }
        decoder.payloadReadDirectly(count - fed)
        return true
    }

    /// Answers `r` with an error at once (counted in the budget like any reply).
    private func refuse(_ t: Transmission, _ r: NBDRequest, _ code: NBDErrno, _ message: String) -> Bool {
        submitWrites()
        guard t.admit(0, wait: true) else { return false }
        RequestExecution.fail(Job(transmission: t, request: r, buffer: nil, charge: 0), code, message, &scratch)
        return true
    }

    /// Reads and drops the `count` payload bytes of a refused request.
    private func discardPayload(_ count: Int) -> Bool {
        if drainBuffer.isEmpty && count > 0 { drainBuffer = [UInt8](repeating: 0, count: 64 << 10) }
        var left = count
        while left > 0 {
            let n = min(left, drainBuffer.count)
            let ok = drainBuffer.withUnsafeMutableBytes { raw -> Bool in
                let fed = decoder.readPayload(into: UnsafeMutableRawBufferPointer(rebasing: raw[..<n]))
                if fed > 0 {
                    left -= fed
                    return true
                }
                guard socket.receive(into: raw.baseAddress!, count: n) == .complete else { return false }
                decoder.payloadReadDirectly(n)
                left -= n
                return true
            }
            guard ok else { return false }
        }
        return true
    }
}
