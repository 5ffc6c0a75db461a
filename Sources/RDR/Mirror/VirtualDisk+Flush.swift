extension VirtualDisk {
    /// Makes written data durable. In duplex the bits this process set are then cleared: both
    /// members hold the same bytes again. (Bits found set at open stay: those regions may differ.)
    public func flush() throws(RDRError) {
        try requireWritable()
        try ranges.withLock([wholeDisk]) { () throws(RDRError) in try settleWrites() }
    }

    /// Whether this process's duplex writes left bits that a `flush` would clear (a live
    /// server's idle disk is flushed so that `status` does not show its writes as interrupted).
    public var hasUnsettledWrites: Bool {
        state.withLock { $0.record.mode == .duplex && !$0.duplexMarked.isEmpty }
    }

    /// A sensor of this disk's client requests, busy from now until none has run for
    /// `quietSeconds` (the one a resync paces itself by, see `LoadSensor`).
    public func loadSensor(quietSeconds: Double) -> LoadSensor {
        LoadSensor(activity: foreground, quietSeconds: quietSeconds, busyNow: true)
    }

    /// `flush` with the whole disk already held (split settles live writes the same way).
    func settleWrites() throws(RDRError) {
        for fd in images { try io { () throws(Errno) in try fd.dataSync() } }
        try state.withLock { (s) throws(RDRError) in
            guard s.record.mode == .duplex, !s.duplexMarked.isEmpty else { return }
            var r = 0
            while let first = s.duplexMarked.nextSet(from: r) {
                if !s.interruptedAtOpen.isSet(first) {
                    s.bitmaps[0].clear(first)
                    s.bitmaps[1].clear(first)
                }
                r = first + 1
            }
            s.duplexMarked.clearAll()
            try persist(.ten, in: &s)
            try persist(.eleven, in: &s)
        }
    }
}
