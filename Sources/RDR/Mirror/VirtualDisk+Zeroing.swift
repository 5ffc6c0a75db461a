/// Making a range read as zeroes (NBD's TRIM and WRITE_ZEROES), marked like any write: after a
/// split the zeroed range differs between the members exactly as written bytes would.
extension VirtualDisk {
    /// How a range is zeroed.
    public enum ZeroMethod: Sendable {
        /// `fallocate(PUNCH_HOLE)`: the range becomes a hole (reads as zeroes, frees space). Any
        /// length costs about the same, so it is the "fast zero" of NBD.
        case punchHole
        /// Zeroes written with `pwrite`: the range stays allocated (NBD's NO_HOLE), at the cost
        /// of a write of the same length.
        case writeZeroes
    }

    /// The scratch buffer of `.writeZeroes`: big enough that a large range costs few calls,
    /// small enough to allocate per request.
    static let zeroChunk = 1 << 20

    /// Makes `[offset, offset + length)` read as zeroes as `side` writes it, on every member the
    /// route names, with write-intent first. `durable` fdatasyncs those members before returning.
    public func zero(side: SideSelector?, offset: Int64, length: Int64, method: ZeroMethod, durable: Bool)
        throws(RDRError)
    {
        try checkBounds(offset: offset, length: length)
        guard length > 0 else { return }
        let zeroes = method == .writeZeroes ? AlignedBuffer(count: Int(min(length, Int64(Self.zeroChunk)))) : nil
        if let zeroes { zeroes.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: zeroes.count) }
        let members = try mutate(side: side, [offset..<offset + length]) { (image) throws(Errno) in
            guard let zeroes else { return try image.punchHole(at: offset, length: length) }
            var done: Int64 = 0
            while done < length {
                let n = Int(min(Int64(zeroes.count), length - done))
                try image.write(from: zeroes.pointer, count: n, at: offset + done)
                done += Int64(n)
            }
        }
        if durable { try syncImages(members, punched: method == .punchHole) }
    }
}
