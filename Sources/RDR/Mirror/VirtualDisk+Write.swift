/// Writes through the mirror, routed by mode and role (+Routing), with write-intent (+Mutation):
/// a region's bit is set and durable before the first byte of a write lands in it.
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
    /// waited for), every newly dirtied region's bit is made durable once for the batch
    /// (write-intent), then the data goes to each live member (`mutate`, +Mutation). With
    /// `durable` (NBD's FUA on any of them) those members are fdatasynced before it returns.
    public func write(side: SideSelector?, _ requests: [WriteRequest], durable: Bool = false) throws(RDRError) {
        try requireWritable()
        for q in requests { try checkBounds(offset: q.offset, length: Int64(q.bytes.count)) }
        let byteRanges = requests.map { $0.offset..<$0.offset + Int64($0.bytes.count) }
        let members = try mutate(side: side, byteRanges) { (image) throws(Errno) in
            for q in requests where q.bytes.count > 0 {
                guard let base = q.bytes.baseAddress else { continue }
                try image.write(from: base, count: q.bytes.count, at: q.offset)
            }
        }
        if durable { try syncImages(members) }
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
                if n <= 0 {
                    ended = true
                    break
                }
                filled += n
            }
            guard filled > 0 else { break }
            guard Int64(filled) <= size - offset - done else {
                try flush()
                throw RDRError(
                    .invalidArgument,
                    "the input is longer than the \(ByteSize.format(size - offset)) from "
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
