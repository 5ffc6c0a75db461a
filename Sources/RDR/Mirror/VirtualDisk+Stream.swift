/// Writes of any length through one bounded buffer: a pattern of 8 TiB, a pipe of many GB or a
/// file larger than memory costs the same few MiB.
extension VirtualDisk {
    /// Big enough that write-intent (one metadata sync per chunk that dirties new regions)
    /// costs little, small enough to be nothing next to a resync's buffers.
    public static let streamChunk = 8 << 20

    /// Writes the bytes `next` produces at `offset`, chunk by chunk, then makes them durable.
    /// `next(buffer, capacity, position)` fills up to `capacity` bytes of the stream from
    /// `position` and returns how many (0 at its end). With `length` known, the whole range is
    /// checked before the first byte and the stream stops there; without it (a pipe), each chunk
    /// is checked, and a stream that runs past the end of the disk stops with an error that says
    /// how much was written before it. Returns the bytes written.
    public func writeStream(side: SideSelector?, offset: Int64, length: Int64?,
                            next: (UnsafeMutableRawPointer, Int, Int64) throws(RDRError) -> Int) throws(RDRError) -> Int64 {
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
                throw RDRError(.invalidArgument, "the input is longer than the \(ByteSize.format(size - offset)) from offset \(offset) to the end of disk '\(name)'; its first \(ByteSize.format(done)) were written (durable, marked) and the rest refused")
            }
            try write(side: side, [WriteRequest(offset: offset + done, bytes: UnsafeRawBufferPointer(start: buffer.pointer, count: filled))])
            done += Int64(filled)
        }
        try flush()
        return done
    }
}

extension VirtualDisk {
    /// Reads `length` bytes at `offset` as `side` sees them, handing them to `sink` one chunk
    /// at a time (the whole range is checked first).
    public func readStream(side: SideSelector?, offset: Int64, length: Int64,
                           sink: ([UInt8]) throws(RDRError) -> Void) throws(RDRError) {
        try checkBounds(offset: offset, length: length)
        var done: Int64 = 0
        while done < length {
            let n = Int(min(Int64(Self.streamChunk), length - done))
            try sink(try read(side: side, offset: offset + done, length: n))
            done += Int64(n)
        }
    }
}
