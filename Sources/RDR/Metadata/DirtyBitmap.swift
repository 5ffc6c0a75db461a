/// One bit per region: set = the region was written on this member since the members were last
/// in sync (or, on a resync target, still has to be copied). Plain value type; the owner
/// serialises access.
public struct DirtyBitmap: Sendable, Equatable {
    public let regionCount: Int
    private(set) var words: [UInt64]

    public init(regionCount: Int) {
        self.regionCount = regionCount
        words = [UInt64](repeating: 0, count: (regionCount + 63) / 64)
    }

    init(regionCount: Int, words: [UInt64]) {
        self.regionCount = regionCount
        self.words = words
    }

    public func isSet(_ region: Int) -> Bool {
        words[region >> 6] & (1 << UInt64(region & 63)) != 0
    }

    /// Sets a bit; returns true when it was clear before.
    @discardableResult
    public mutating func set(_ region: Int) -> Bool {
        let mask: UInt64 = 1 << UInt64(region & 63)
        let old = words[region >> 6]
        words[region >> 6] = old | mask
        return old & mask == 0
    }

    /// Clears a bit; returns true when it was set before.
    @discardableResult
    public mutating func clear(_ region: Int) -> Bool {
        let mask: UInt64 = 1 << UInt64(region & 63)
        let old = words[region >> 6]
        words[region >> 6] = old & ~mask
        return old & mask != 0
    }

    public mutating func setAll() {
        for i in words.indices { words[i] = ~0 }
        let tail = regionCount & 63
        if tail != 0, !words.isEmpty { words[words.count - 1] = (1 << UInt64(tail)) - 1 }
    }

    public mutating func clearAll() {
        for i in words.indices { words[i] = 0 }
    }

    public var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }
    public var isEmpty: Bool { words.allSatisfy { $0 == 0 } }

    /// Word indices whose value differs from `other` (the pages a persist must rewrite).
    func changedWords(comparedTo other: DirtyBitmap) -> [Int] {
        words.indices.filter { words[$0] != other.words[$0] }
    }

    /// The bits set here and not in `other`.
    public func subtracting(_ other: DirtyBitmap) -> DirtyBitmap {
        precondition(other.regionCount == regionCount, "bitmaps of different disks")
        return DirtyBitmap(regionCount: regionCount, words: zip(words, other.words).map { $0 & ~$1 })
    }

    public mutating func formUnion(_ other: DirtyBitmap) {
        precondition(other.regionCount == regionCount, "bitmaps of different disks")
        for i in words.indices { words[i] |= other.words[i] }
    }

    /// The first set region at or after `start`, or nil.
    public func nextSet(from start: Int) -> Int? {
        guard start < regionCount else { return nil }
        var w = start >> 6
        var word = words[w] & (~0 << UInt64(start & 63))
        while true {
            if word != 0 {
                let r = (w << 6) + word.trailingZeroBitCount
                return r < regionCount ? r : nil
            }
            w += 1
            if w >= words.count { return nil }
            word = words[w]
        }
    }

    /// The first clear region at or after `start`, or `regionCount`.
    public func nextClear(from start: Int) -> Int {
        guard start < regionCount else { return regionCount }
        var w = start >> 6
        var word = ~words[w] & (~0 << UInt64(start & 63))
        while true {
            if word != 0 { return min((w << 6) + word.trailingZeroBitCount, regionCount) }
            w += 1
            if w >= words.count { return regionCount }
            word = ~words[w]
        }
    }

    /// Set regions as half-open runs [start, end).
    public var runs: [Range<Int>] {
        var result: [Range<Int>] = []
        var r = 0
        while let s = nextSet(from: r) {
            let e = nextClear(from: s)
            result.append(s..<e)
            r = e
        }
        return result
    }
}
