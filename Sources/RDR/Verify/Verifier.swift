import Glibc
import Synchronization

/// Compares a disk's two members region by region on `WorkerPool` threads, skipping ranges that
/// are holes in both. Each worker takes the next chunk that holds data on either member, reads
/// both members under the disk's range lock (a write in flight finishes first), and notes the
/// regions whose bytes differ.
final class Verifier: Sendable {
    private let a: FileDescriptor
    private let b: FileDescriptor
    private let geometry: RegionGeometry
    private let ranges: RangeLock
    /// Region-aligned, at least one region.
    private let chunk: Int64
    private let cursor = Mutex<Int64>(0)
    private let found: Mutex<DirtyBitmap>
    private let failure = Mutex<RDRError?>(nil)
    private let compared = Atomic<Int64>(0)

    init(disk: VirtualDisk, chunkSize: Int64) {
        a = disk.images[0]
        b = disk.images[1]
        geometry = disk.geometry
        ranges = disk.ranges
        chunk = max(geometry.regionSize, geometry.regionStart(atOrBefore: chunkSize))
        found = Mutex(DirtyBitmap(regionCount: geometry.regionCount))
    }

    /// Runs the comparison; returns the regions that differ and the bytes compared.
    func run(workers: Int) throws(RDRError) -> (mismatched: DirtyBitmap, bytesCompared: Int64) {
        try WorkerPool.run(count: workers, name: "rdr-verify", work: { [self] _ in workerLoop() })
        if let error = failure.withLock({ $0 }) { throw error }
        return (found.withLock { $0 }, compared.load(ordering: .relaxed))
    }

    private func workerLoop() {
        let bufA = AlignedBuffer(count: Int(chunk))
        let bufB = AlignedBuffer(count: Int(chunk))
        while failure.withLock({ $0 == nil }) {
            do throws(Errno) {
                guard let range = try nextChunk() else { return }
                try compare(range, bufA, bufB)
            } catch {
                failure.withLock { if $0 == nil { $0 = RDRError.io(error) } }
                return
            }
        }
    }

    private func compare(_ range: Range<Int64>, _ bufA: AlignedBuffer, _ bufB: AlignedBuffer) throws(Errno) {
        let n = Int(range.count)
        try ranges.withLock([range]) { () throws(Errno) in
            try a.readFully(into: bufA.pointer, count: n, at: range.lowerBound)
            try b.readFully(into: bufB.pointer, count: n, at: range.lowerBound)
        }
        var bad: [Int] = []
        var off = 0
        while off < n {
            let len = min(Int(geometry.regionSize), n - off)
            if memcmp(bufA.pointer + off, bufB.pointer + off, len) != 0 {
                bad.append(geometry.region(containing: range.lowerBound + Int64(off)))
            }
            off += len
        }
        if !bad.isEmpty { found.withLock { for r in bad { $0.set(r) } } }
        compared.add(Int64(n), ordering: .relaxed)
    }

    /// The next range holding data on either member (region aligned, at most `chunk` long,
    /// ending where both members are holes again), or nil at the end.
    private func nextChunk() throws(Errno) -> Range<Int64>? {
        let size = geometry.size
        return try cursor.withLock { (pos) throws(Errno) -> Range<Int64>? in
            guard pos < size else { return nil }
            let d = min(try a.nextData(from: pos) ?? size, try b.nextData(from: pos) ?? size)
            guard d < size else {
                pos = size
                return nil
            }
            let start = max(pos, geometry.regionStart(atOrBefore: d))
            let limit = min(start + chunk, size)
            var e = d
            while e < limit {
                let na = try a.nextData(from: e) ?? size
                let nb = try b.nextData(from: e) ?? size
                if min(na, nb) > e { break }  // a hole in both: the union segment ends here
                e = max(na == e ? try a.nextHole(from: e) : e, nb == e ? try b.nextHole(from: e) : e)
            }
            let end = min(limit, geometry.regionBoundary(atOrAfter: e), size)
            pos = end
            return start..<end
        }
    }
}
