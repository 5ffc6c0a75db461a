/// Reads as one side sees the disk (the member `readMember` picks).
extension VirtualDisk {
    public func read(side: SideSelector?, offset: Int64, length: Int) throws(RDRError) -> [UInt8] {
        try checkBounds(offset: offset, length: Int64(length))
        let e = try readMember(side, record)
        return try foreground.during { () throws(RDRError) in
            try io { () throws(Errno) in try images[e.index].readBytes(count: length, at: offset) }
        }
    }

    /// Reads `length` bytes at `offset` as `side` sees them, handing them to `sink` one chunk
    /// at a time (the whole range is checked first), so any length costs one chunk of memory.
    public func readStream(
        side: SideSelector?, offset: Int64, length: Int64,
        sink: ([UInt8]) throws(RDRError) -> Void
    ) throws(RDRError) {
        try checkBounds(offset: offset, length: length)
        var done: Int64 = 0
        while done < length {
            let n = Int(min(Int64(Self.streamChunk), length - done))
            try sink(try read(side: side, offset: offset + done, length: n))
            done += Int64(n)
        }
    }
}
