/// Writes through the mirror, routed by mode and role (+Routing), with write-intent: a region's
/// bit is set and durable before the first byte of a write lands in it.
extension VirtualDisk {
    public struct WriteRequest {
        public let offset: Int64
        public let bytes: UnsafeRawBufferPointer
        public init(offset: Int64, bytes: UnsafeRawBufferPointer) {
            self.offset = offset
            self.bytes = bytes
        }
    }

    /// Big enough that write-intent (one metadata sync per chunk that dirties new regions)
    /// costs little, small enough to be nothing next to a resync's buffers.
    public static let streamChunk = 8 << 20

    /// Writes a batch as one unit: every range is locked at once (a region being resynced is
    /// waited for), every newly dirtied region's bit is persisted once for the batch
    /// (write-intent), then the data goes to each live member.
    public func write(side: SideSelector?, _ requests: [WriteRequest]) throws(RDRError) {
        try requireWritable()
        for q in requests { try checkBounds(offset: q.offset, length: Int64(q.bytes.count)) }
        let byteRanges = requests.filter { $0.bytes.count > 0 }.map { $0.offset..<$0.offset + Int64($0.bytes.count) }
        guard !byteRanges.isEmpty else { return }
        try ranges.withLock(byteRanges) { () throws(RDRError) in
            let route = try state.withLock { (s) throws(RDRError) -> Route in
                let route = try writeRoute(side, s.record)
                try markIntent(byteRanges, route: route, in: &s)
                return route
            }
            for e in route.members {
                for q in requests where q.bytes.count > 0 {
                    guard let base = q.bytes.baseAddress else { continue }
                    try io { () throws(Errno) in
                        try images[e.index].write(from: base, count: q.bytes.count, at: q.offset)
                    }
                }
            }
        }
    }

    /// Sets the written regions' bits on the members `route` marks and persists each changed
    /// bitmap once; notes duplex writes (cleared by `flush`) and writes during a resync.
    private func markIntent(_ byteRanges: [Range<Int64>], route: Route, in s: inout State) throws(RDRError) {
        for e in route.mark {
            var changed = false
            for range in byteRanges {
                for r in geometry.regions(of: range) where s.bitmaps[e.index].set(r) { changed = true }
            }
            if changed { try persist(e, in: &s) }
        }
        for range in byteRanges {
            for r in geometry.regions(of: range) {
                if s.record.mode == .duplex { s.duplexMarked.set(r) }
                if route.mirroredDuringResync { s.mirroredDuringResync?.set(r) }
            }
        }
    }

    public func write(side: SideSelector?, offset: Int64, bytes: [UInt8]) throws(RDRError) {
        try withBytes(bytes) { (raw) throws(RDRError) in
            try write(side: side, [WriteRequest(offset: offset, bytes: raw)])
        }
    }

    /// Writes the bytes `next` produces at `offset`, chunk by chunk through one bounded buffer
    /// (a pattern of 8 TiB, a pipe of many GB or a file larger than memory costs the same few
    /// MiB), then makes them durable. `next(buffer, capacity, position)` fills up to `capacity`
    /// bytes of the stream from `position` and returns how many (0 at its end). With `length`
    /// known, the whole range is checked before the first byte and the stream stops there;
    /// without it (a pipe), each chunk is checked, and a stream that runs past the end of the
    /// disk stops with an error that says how much was written before it. Returns the bytes
    /// written.
    public func writeStream(
        side: SideSelector?, offset: Int64, length: Int64?,
        next: (UnsafeMutableRawPointer, Int, Int64) throws(RDRError) -> Int
    ) throws(RDRError) -> Int64 {
        try checkBounds(offset: offset, length: length ?? 0)
        let buffer = AlignedBuffer(count: Self.streamChunk)
        var done: Int64 = 0
        var ended = false
        while !ended, length.map({ done < $0 }) ?? true {
            let want = Int(min(Int64(buffer.count), (length ?? Int64.max) - done))
            var filled = 0
            while filled < want {
                let n = try next(buffer.pointer + filled, want - filled, done + Int64(filled))
                if n <= 0 { ended = true; break }
                filled += n
            }
            guard filled > 0 else { break }
            guard Int64(filled) <= size - offset - done else {
                try flush()
                throw RDRError(.invalidArgument, "the input is longer than the \(ByteSize.format(size - offset)) from "
                    + "offset \(offset) to the end of disk '\(name)'; its first \(ByteSize.format(done)) were written "
                    + "(durable, marked) and the rest refused")
            }
            let chunk = UnsafeRawBufferPointer(start: buffer.pointer, count: filled)
            try write(side: side, [WriteRequest(offset: offset + done, bytes: chunk)])
            done += Int64(filled)
        }
        try flush()
        return done
    }
}
