/// Reads and writes through a caller's buffer, for servers that keep their own page-aligned
/// buffers: no `[UInt8]` is allocated per request and the bytes are copied only by the kernel.
extension VirtualDisk {
    /// Reads `count` bytes at `offset` as `side` sees the disk into `buffer` (from the member
    /// that side reads: the mirror semantics table decides, at this instant).
    public func read(side: SideSelector?, offset: Int64, into buffer: UnsafeMutableRawPointer, count: Int)
        throws(RDRError)
    {
        try checkBounds(offset: offset, length: Int64(count))
        guard count > 0 else { return }
        let e = try readMember(side, record)
        try foreground.during { () throws(RDRError) in
            try io { () throws(Errno) in try images[e.index].readFully(into: buffer, count: count, at: offset) }
        }
    }

    /// Writes `count` bytes from `buffer` at `offset` as `side`: write-intent first, then the
    /// bytes to every member the route names. With `durable` (NBD's FUA) those members are
    /// also fdatasynced before it returns, so the write survives a crash on its own.
    public func write(side: SideSelector?, offset: Int64, from buffer: UnsafeRawPointer, count: Int, durable: Bool)
        throws(RDRError)
    {
        try checkBounds(offset: offset, length: Int64(count))
        let members = try mutate(side: side, [offset..<offset + Int64(count)]) { (image) throws(Errno) in
            try image.write(from: buffer, count: count, at: offset)
        }
        if durable { try syncImages(members) }
    }

    /// Makes every write that has returned durable on every member: fdatasync of both images,
    /// without waiting for writes in flight and without touching the bitmaps (a write's bits
    /// were durable before its data was written). Unlike `flush`, it does not clear the bits of
    /// synced duplex writes, so it never stops the other writers; a caller that wants them
    /// cleared calls `flush` now and then (md clears its bitmap lazily the same way).
    public func syncData() throws(RDRError) {
        try requireWritable()
        try syncImages([.ten, .eleven])
    }
}
