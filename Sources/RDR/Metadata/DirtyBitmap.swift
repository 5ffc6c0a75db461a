/// One bit per region: set = the region was written on this member since the members were last
/// in sync (or, on a resync target, still has to be copied). Plain value type; the owner
/// serialises access.
///
/// It also notes which metadata pages (`pageWords` words each) its changes touched, so that
/// persisting it costs the pages that changed, not the disk (`MetadataFile.persist`). The note
/// is conservative: a bitmap built from nothing has every page touched until it is persisted or
/// marked as read from disk; equality ignores the note.
public struct DirtyBitmap: Sendable, Equatable {
    public let regionCount: Int
    private(set) var words: [UInt64]
    private(set) var touched: TouchedPages

    /// Words per metadata page: the unit `touched` counts in.
    static let pageWords = MetadataLayout.Page.wordsPerPage

    public init(regionCount: Int) {
        self.regionCount = regionCount
        words = [UInt64](repeating: 0, count: (regionCount + 63) / 64)
        touched = TouchedPages(all: true)
    }

    init(regionCount: Int, words: [UInt64]) {
        self.regionCount = regionCount
        self.words = words
        touched = TouchedPages(all: true)
    }

    public static func == (a: DirtyBitmap, b: DirtyBitmap) -> Bool {
        a.regionCount == b.regionCount && a.words == b.words
    }

    /// The pages whose words may differ from the copy last persisted (every page while unknown).
    func touchedPages(of pageCount: Int) -> [Int] { touched.pages(of: pageCount) }

    /// Forgets the touched pages: this bitmap now matches its durable copy.
    mutating func markPersisted() { touched = TouchedPages(all: false) }

    /// Word `w` changed: its page is touched.
    private mutating func touch(word w: Int) { touched.insert(w / Self.pageWords) }

    public func isSet(_ region: Int) -> Bool {
        words[region >> 6] & (1 << UInt64(region & 63)) != 0
    }

    /// Sets a bit; returns true when it was clear before.
    @discardableResult
    public mutating func set(_ region: Int) -> Bool {
        let mask: UInt64 = 1 << UInt64(region & 63)
        let old = words[region >> 6]
        guard old & mask == 0 else { return false }
        words[region >> 6] = old | mask
        touch(word: region >> 6)
        return true
    }

    /// Clears a bit; returns true when it was set before.
    @discardableResult
    public mutating func clear(_ region: Int) -> Bool {
        let mask: UInt64 = 1 << UInt64(region & 63)
        let old = words[region >> 6]
        guard old & mask != 0 else { return false }
        words[region >> 6] = old & ~mask
        touch(word: region >> 6)
        return true
    }

    public mutating func setAll() {
        for i in words.indices where words[i] != ~0 {
            words[i] = ~0
            touch(word: i)
        }
        self = maskedToRegionCount()
    }

    /// This bitmap with every bit past `regionCount` (the last word's unused tail) cleared.
    func maskedToRegionCount() -> DirtyBitmap {
        var copy = self
        let tail = regionCount & 63
        if tail != 0, !copy.words.isEmpty { copy.words[copy.words.count - 1] &= (1 << UInt64(tail)) - 1 }
        return copy
    }

    /// Whether no bit past `regionCount` is set (the last word's unused tail is clear).
    var hasNoBitsPastRegionCount: Bool {
        let tail = regionCount & 63
        guard tail != 0, let last = words.last else { return true }
        return last & ~((1 << UInt64(tail)) - 1) == 0
    }

    /// Whether the words hold exactly `regionCount` bits' worth (a bitmap built from raw words).
    var hasWordsForRegionCount: Bool { words.count == (regionCount + 63) / 64 }

    public mutating func clearAll() {
        for i in words.indices where words[i] != 0 {
            words[i] = 0
            touch(word: i)
        }
    }

    public var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }
    public var isEmpty: Bool { words.allSatisfy { $0 == 0 } }

    /// Whether page `p`'s words differ from `other`'s (a persist rewrites only such pages).
    func pageDiffers(_ p: Int, from other: DirtyBitmap) -> Bool {
        let range = pageWordRange(p)
        return words[range] != other.words[range]
    }

    /// Copies page `p`'s words from `other` (the durable copy follows a persisted page).
    mutating func copyPage(_ p: Int, from other: DirtyBitmap) {
        for w in pageWordRange(p) { words[w] = other.words[w] }
    }

    private func pageWordRange(_ p: Int) -> Range<Int> {
        min(p * Self.pageWords, words.count)..<min((p + 1) * Self.pageWords, words.count)
    }

    /// The bits set here and not in `other`.
    public func subtracting(_ other: DirtyBitmap) -> DirtyBitmap {
        precondition(other.regionCount == regionCount, "bitmaps of different disks")
        return DirtyBitmap(regionCount: regionCount, words: zip(words, other.words).map { $0 & ~$1 })
    }

    public mutating func formUnion(_ other: DirtyBitmap) {
        precondition(other.regionCount == regionCount, "bitmaps of different disks")
        for i in words.indices where words[i] | other.words[i] != words[i] {
            words[i] |= other.words[i]
            touch(word: i)
        }
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

/// A set of metadata page indices, as bits; `all` stands for every page (nothing known).
struct TouchedPages: Sendable {
    private(set) var all: Bool
    private var bits: [UInt64] = []

    init(all: Bool) { self.all = all }

    mutating func insert(_ page: Int) {
        guard !all else { return }
        let w = page >> 6
        if w >= bits.count { bits.append(contentsOf: repeatElement(0, count: w + 1 - bits.count)) }
        bits[w] |= 1 << UInt64(page & 63)
    }

    /// The pages in the set below `pageCount`, ascending.
    func pages(of pageCount: Int) -> [Int] {
        if all { return Array(0..<pageCount) }
        var out: [Int] = []
        for (w, word) in bits.enumerated() where word != 0 {
            var rest = word
            while rest != 0 {
                let p = (w << 6) + rest.trailingZeroBitCount
                if p < pageCount { out.append(p) }
                rest &= rest - 1
            }
        }
        return out
    }
}
