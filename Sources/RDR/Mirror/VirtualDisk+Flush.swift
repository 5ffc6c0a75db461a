extension VirtualDisk {
    /// Makes written data durable. In duplex the bits this process set are then cleared: both
    /// members hold the same bytes again. (Bits found set at open stay: those regions may differ.)
    public func flush() throws(RDRError) {
        try requireWritable()
        try ranges.withLock([wholeDisk]) { () throws(RDRError) in
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
}
