/// Reads and writes through the mirror, routed by mode and role as DESIGN.md's table says.
extension VirtualDisk {
    public struct WriteRequest {
        public let offset: Int64
        public let bytes: UnsafeRawBufferPointer
        public init(offset: Int64, bytes: UnsafeRawBufferPointer) {
            self.offset = offset
            self.bytes = bytes
        }
    }

    struct Route {
        var members: [Enclosure]
        var mark: [Enclosure]
        var mirroredDuringResync = false
    }

    /// Which members a write from `side` goes to and which bitmaps record it.
    func writeRoute(_ side: SideSelector?, _ r: MirrorRecord) throws(RDRError) -> Route {
        switch r.mode {
        case .duplex:
            return Route(members: [.ten, .eleven], mark: [.ten, .eleven])
        case .resyncing:
            let target = r.resyncTarget ?? r.primary.other
            return Route(members: [target.other, target], mark: [target], mirroredDuringResync: true)
        case .split, .merged:
            let e = try liveMember(side, r)
            return Route(members: [e], mark: [e])
        }
    }

    /// The member that serves `side` while split or merged, or why that side has no access.
    func liveMember(_ side: SideSelector?, _ r: MirrorRecord) throws(RDRError) -> Enclosure {
        guard let side else {
            throw RDRError(.invalidArgument, "disk '\(name)' is \(r.mode): name the side with --side production|upgrade|10|11")
        }
        let e = side.enclosure(primary: r.primary)
        let isProduction = e == r.primary
        switch r.mode {
        case .split:
            if role == .data && !isProduction {
                throw RDRError(.accessRefused, "the Upgrade Side (enclosure \(e)) has no access to data disk '\(name)' while split; use the Production Side (enclosure \(r.primary))")
            }
            return e
        case .merged:
            // The system runs on the Upgrade Side: the Production Side is stopped for every disk.
            // A system disk's Production member is frozen for abort; a data disk's stays live,
            // served to the Upgrade Side.
            if isProduction && role.isSystem {
                throw RDRError(.accessRefused, "the Production Side (enclosure \(e)) is stopped while merged and its member of '\(name)' is frozen for abort; use the Upgrade Side (enclosure \(r.primary.other))")
            }
            if isProduction {
                throw RDRError(.accessRefused, "the Production Side (enclosure \(e)) is stopped while merged; data disk '\(name)' is served to the Upgrade Side from its Production member (member \(r.primary)): use --side upgrade")
            }
            return role.isSystem ? r.primary.other : r.primary
        case .duplex, .resyncing:
            return e
        }
    }

    /// The member a read from `side` is served from.
    func readMember(_ side: SideSelector?, _ r: MirrorRecord) throws(RDRError) -> Enclosure {
        switch r.mode {
        case .duplex: return side?.enclosure(primary: r.primary) ?? r.primary
        case .resyncing: return r.resyncSource ?? r.primary
        case .split, .merged: return try liveMember(side, r)
        }
    }

    func checkBounds(offset: Int64, length: Int64) throws(RDRError) {
        guard offset >= 0, length >= 0, offset <= size, length <= size - offset else {
            throw RDRError(.invalidArgument, "offset \(offset) + length \(length) (\(ByteSize.format(length))) is outside disk '\(name)' (\(size) bytes, \(ByteSize.format(size))); keep offset + length ≤ \(size)")
        }
    }

    func regions(of range: Range<Int64>) -> Range<Int> {
        guard !range.isEmpty else { return 0..<0 }
        return Int(range.lowerBound / regionSize)..<Int((range.upperBound - 1) / regionSize + 1)
    }

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
                for e in route.mark {
                    var changed = false
                    for range in byteRanges {
                        for r in regions(of: range) where s.bitmaps[e.index].set(r) { changed = true }
                    }
                    if changed { try persist(e, in: &s) }
                }
                for range in byteRanges {
                    for r in regions(of: range) {
                        if s.record.mode == .duplex { s.duplexMarked.set(r) }
                        if route.mirroredDuringResync { s.mirroredDuringResync?.set(r) }
                    }
                }
                return route
            }
            for e in route.members {
                for q in requests where q.bytes.count > 0 {
                    guard let base = q.bytes.baseAddress else { continue }
                    try io { () throws(Errno) in try images[e.index].write(from: base, count: q.bytes.count, at: q.offset) }
                }
            }
        }
    }

    public func write(side: SideSelector?, offset: Int64, bytes: [UInt8]) throws(RDRError) {
        try withBytes(bytes) { (raw) throws(RDRError) in
            try write(side: side, [WriteRequest(offset: offset, bytes: raw)])
        }
    }

    public func read(side: SideSelector?, offset: Int64, length: Int) throws(RDRError) -> [UInt8] {
        try checkBounds(offset: offset, length: Int64(length))
        let e = try readMember(side, record)
        return try io { () throws(Errno) in try images[e.index].readBytes(count: length, at: offset) }
    }

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
