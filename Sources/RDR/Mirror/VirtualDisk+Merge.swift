extension VirtualDisk {
    /// Split → merged: system disks run on the Upgrade member (the Production member is frozen
    /// for abort); data disks stay on the Production member. Holds the whole disk (no write in
    /// flight) and persists the new record to both members before returning.
    public func merge() throws(RDRError) {
        try requireWritable()
        try ranges.withLock([wholeDisk]) { () throws(RDRError) in
            try state.withLock { (s) throws(RDRError) in
                guard s.record.mode == .split else {
                    throw RDRError(.invalidState, "disk '\(name)' is \(s.record.mode); only a split disk can be merged")
                }
                var next = s.record
                next.mode = .merged
                try writeRecord(&next, in: &s, first: next.primary.other)
            }
        }
    }
}
