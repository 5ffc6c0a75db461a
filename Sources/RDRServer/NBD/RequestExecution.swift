import Glibc
import NBDWire
import RDR

/// What a worker does with one admitted request: the disk operation, then the reply. Access is
/// decided by the engine at this instant (the disk's mode may have changed since the client
/// connected); a refusal becomes EPERM and is logged.
enum RequestExecution {
    static func run(_ job: Job, _ scratch: inout WorkerScratch) {
        let t = job.transmission
        let r = job.request
        if t.isAbandoned && !changesData(r.command) {
            // Nobody will read the reply, and nothing changes without it: no I/O.
            return t.complete(.init(buffer: job.buffer, charge: job.charge))
        }
        scratch.header.removeAll(keepingCapacity: true)
        do throws(RDRError) {
            switch r.command {
            case .read:
                try read(job, &scratch)
                return
            case .write where r.length > 0:
                guard let buffer = job.buffer else { throw RDRError(.io, "no buffer for the payload") }
                try t.export.disk.write(
                    side: t.export.name.side, offset: Int64(r.offset), from: buffer.pointer,
                    count: Int(r.length), durable: r.flags.contains(.fua))
            case .write:
                try t.export.disk.checkAccess(side: t.export.name.side)  // 0 bytes: nothing to write
            case .flush:
                if !t.core.configuration.readOnly { try t.core.flush(t.export) }
            case .trim, .writeZeroes:
                try zero(t, r)
            case .blockStatus:
                try BlockStatus.encode(job, into: &scratch.header)
                return send(job, scratch.header)
            default:  // NBD_CMD_CACHE: a hint; the page cache does the caching
                try t.export.disk.checkAccess(side: t.export.name.side)
            }
            SimpleReply(cookie: r.cookie).encode(into: &scratch.header)
            send(job, scratch.header)
        } catch {
            if error.kind == .accessRefused { t.logRefusal(error.message) }
            fail(job, NBDErrors.code(for: error), error.message, &scratch)
        }
    }

    /// Whether a request changes bytes (so it is carried out even for a client that hung up:
    /// its payload was received whole, and a write is either done or not, never half).
    private static func changesData(_ c: NBDCommand) -> Bool {
        c == .write || c == .trim || c == .writeZeroes
    }

    private static func read(_ job: Job, _ scratch: inout WorkerScratch) throws(RDRError) {
        let t = job.transmission
        let r = job.request
        let count = Int(r.length)
        guard count > 0 else {
            // Nothing to carry: a structured reply is just NONE (an OFFSET_DATA chunk has ≥ 1 byte).
            if t.structured {
                StructuredChunk(flags: .done, cookie: r.cookie, body: .none).encode(into: &scratch.header)
            } else {
                SimpleReply(cookie: r.cookie).encode(into: &scratch.header)
            }
            return send(job, scratch.header)
        }
        guard let buffer = job.buffer else { throw RDRError(.io, "no buffer for the data") }
        try t.export.disk.read(side: t.export.name.side, offset: Int64(r.offset), into: buffer.pointer, count: count)
        if t.structured {
            // One chunk for the whole range: DF is always honoured.
            StructuredChunk(flags: .done, cookie: r.cookie, body: .offsetData(offset: r.offset, dataLength: r.length))
                .encode(into: &scratch.header)
        } else {
            SimpleReply(cookie: r.cookie).encode(into: &scratch.header)
        }
        send(job, scratch.header, data: UnsafeRawBufferPointer(start: buffer.pointer, count: count))
    }

    /// TRIM punches; WRITE_ZEROES punches unless NO_HOLE. FAST_ZERO with NO_HOLE would be as
    /// slow as a WRITE, so it fails at once with ENOTSUP, changing nothing (proto.md).
    private static func zero(_ t: Transmission, _ r: NBDRequest) throws(RDRError) {
        let keep = r.command == .writeZeroes && r.flags.contains(.noHole)
        if keep && r.flags.contains(.fastZero) { throw NBDErrors.notFast }
        try t.export.disk.zero(
            side: t.export.name.side, offset: Int64(r.offset), length: Int64(r.length),
            method: keep ? .writeZeroes : .punchHole, durable: r.flags.contains(.fua))
    }

    private static func send(
        _ job: Job, _ header: [UInt8], data: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) {
        header.withUnsafeBytes { h in
            job.transmission.send(header: h, data: data, completion: .init(buffer: job.buffer, charge: job.charge))
        }
    }

    /// An error reply: an ERROR chunk with the message when structured replies were agreed
    /// (required for READ, more useful for the rest), else a simple reply.
    static func fail(_ job: Job, _ code: NBDErrno, _ message: String, _ scratch: inout WorkerScratch) {
        scratch.header.removeAll(keepingCapacity: true)
        let r = job.request
        if job.transmission.structured {
            StructuredChunk(flags: .done, cookie: r.cookie, body: .error(code, message: message)).encode(
                into: &scratch.header)
        } else {
            SimpleReply(error: code, cookie: r.cookie).encode(into: &scratch.header)
        }
        send(job, scratch.header)
    }
}
