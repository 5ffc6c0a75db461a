import NBDWire
import RDR

/// WRITEs of one connection that arrived together, run as one engine write (one range lock,
/// one write-intent commit for every region they dirty) and answered with one `sendmsg` of
/// all their replies. Each keeps its own meaning: a reply is sent only once its bytes are in
/// every member and their write-intent bits are durable; a FUA among them makes the whole
/// batch durable first (more than it asks, never less). An error fails every one of them (the
/// engine cannot tell which range caused it), each with its own error reply.
enum WriteBatch {
    static func run(_ jobs: [Job], _ scratch: inout WorkerScratch) {
        let t = jobs[0].transmission
        var requests: [VirtualDisk.WriteRequest] = []
        requests.reserveCapacity(jobs.count)
        var durable = false
        var charge = 0
        for job in jobs {
            let bytes = UnsafeRawBufferPointer(start: job.buffer?.pointer, count: job.buffer == nil ? 0 : job.charge)
            requests.append(VirtualDisk.WriteRequest(offset: Int64(job.request.offset), bytes: bytes))
            durable = durable || job.request.flags.contains(.fua)
            charge += job.charge
        }
        do throws(RDRError) {
            try t.export.disk.write(side: t.export.name.side, requests, durable: durable)
        } catch {
            if error.kind == .accessRefused { t.logRefusal(error.message) }
            for job in jobs { RequestExecution.fail(job, NBDErrors.code(for: error), error.message, &scratch) }
            return
        }
        // The payloads are on disk: their buffers can serve the next requests already.
        for job in jobs { if let buffer = job.buffer { t.core.buffers.give(buffer) } }
        scratch.header.removeAll(keepingCapacity: true)
        for job in jobs { SimpleReply(cookie: job.request.cookie).encode(into: &scratch.header) }
        scratch.header.withUnsafeBytes { header in
            t.send(
                header: header, data: UnsafeRawBufferPointer(start: nil, count: 0),
                completion: .init(buffer: nil, charge: charge, requests: jobs.count))
        }
    }
}
