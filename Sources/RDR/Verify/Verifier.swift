import Foundation
import Synchronization

/// What `verify` found.
public struct VerifyReport: Sendable {
    public var disk: String
    public var mismatched: DirtyBitmap
    /// Mismatched regions that neither member's bitmap marks: members were "in sync" there, so
    /// an image was replaced, swapped or written behind rdr's back.
    public var unexplained: DirtyBitmap
    public var regionSize: Int64
    public var size: Int64
    public var bytesCompared: Int64
    public var seconds: Double
    /// Set when `repairFrom` was given and mismatches were resynced.
    public var repair: ResyncSummary?

    public var mismatchedBytes: Int64 {
        mismatched.runs.reduce(0) { $0 + min(Int64($1.upperBound) * regionSize, size) - Int64($1.lowerBound) * regionSize }
    }

    /// Mismatched byte ranges, coalesced.
    public var mismatchedRanges: [Range<Int64>] {
        mismatched.runs.map { Int64($0.lowerBound) * regionSize..<min(Int64($0.upperBound) * regionSize, size) }
    }
}

extension VirtualDisk {
    /// Compares both members region by region, in parallel, skipping ranges that are holes in
    /// both. With `repairFrom`, mismatched regions are resynced from that member.
    public func verify(workers: Int = ResyncOptions.defaultWorkers, chunkSize: Int64 = 4 << 20,
                       repairFrom: Enclosure? = nil, options: ResyncOptions = ResyncOptions(),
                       observer: (@Sendable (ResyncProgress) -> Void)? = nil) throws(RDRError) -> VerifyReport {
        let begin = Monotonic.now()
        let marked = state.withLock { s -> DirtyBitmap in
            var u = s.bitmaps[0]
            u.formUnion(s.bitmaps[1])
            return u
        }
        let chunk = max(regionSize, chunkSize / regionSize * regionSize)
        let a = images[0], b = images[1]
        let cursor = Mutex<Int64>(0)
        let found = Mutex(DirtyBitmap(regionCount: regionCount))
        let failure = Mutex<RDRError?>(nil)
        let compared = Atomic<Int64>(0)
        let size = size, regionSize = regionSize

        /// The next range holding data on either member (region aligned, at most `chunk`
        /// long, ending where both members are holes again), or nil at the end.
        @Sendable func nextChunk() throws(Errno) -> Range<Int64>? {
            try cursor.withLock { (pos) throws(Errno) -> Range<Int64>? in
                guard pos < size else { return nil }
                let d = min(try a.nextData(from: pos) ?? size, try b.nextData(from: pos) ?? size)
                guard d < size else {
                    pos = size
                    return nil
                }
                let start = max(pos, d / regionSize * regionSize)
                let limit = min(start + chunk, size)
                var e = d
                while e < limit {
                    let na = try a.nextData(from: e) ?? size, nb = try b.nextData(from: e) ?? size
                    if min(na, nb) > e { break }  // a hole in both: the union segment ends here
                    e = max(na == e ? try a.nextHole(from: e) : e, nb == e ? try b.nextHole(from: e) : e)
                }
                let end = min(limit, (e + regionSize - 1) / regionSize * regionSize, size)
                pos = end
                return start..<end
            }
        }

        let group = DispatchGroup()
        for _ in 0..<max(1, workers) {
            group.enter()
            Thread { [self] in
                defer { group.leave() }
                let bufA = AlignedBuffer(count: Int(chunk)), bufB = AlignedBuffer(count: Int(chunk))
                while failure.withLock({ $0 == nil }) {
                    do throws(Errno) {
                        guard let range = try nextChunk() else { return }
                        let n = Int(range.count)
                        try ranges.withLock([range]) { () throws(Errno) in
                            try a.readFully(into: bufA.pointer, count: n, at: range.lowerBound)
                            try b.readFully(into: bufB.pointer, count: n, at: range.lowerBound)
                        }
                        var bad: [Int] = []
                        var off = 0
                        while off < n {
                            let len = min(Int(regionSize), n - off)
                            if memcmp(bufA.pointer + off, bufB.pointer + off, len) != 0 {
                                bad.append(Int((range.lowerBound + Int64(off)) / regionSize))
                            }
                            off += len
                        }
                        if !bad.isEmpty { found.withLock { for r in bad { $0.set(r) } } }
                        compared.add(Int64(n), ordering: .relaxed)
                    } catch {
                        failure.withLock { if $0 == nil { $0 = RDRError.io(error) } }
                        return
                    }
                }
            }.start()
        }
        group.wait()
        if let error = failure.withLock({ $0 }) { throw error }
        let mismatched = found.withLock { $0 }
        var report = VerifyReport(disk: name, mismatched: mismatched, unexplained: mismatched.subtracting(marked), regionSize: regionSize, size: size,
                                  bytesCompared: compared.load(ordering: .relaxed), seconds: Monotonic.now() - begin)
        if let source = repairFrom, !report.mismatched.isEmpty {
            guard record.mode == .duplex || record.mode == .resyncing else {
                throw RDRError(.invalidState, "disk '\(name)' is \(record.mode): its members differ by design; repair only a duplexed disk")
            }
            report.repair = try resync(from: source, options: options, extra: report.mismatched, observer: observer)
        }
        return report
    }
}
