import Foundation
import RDR

/// How many of a diverged pair's bytes a running resync has already made equal, read from the
/// two images themselves (the truth the benchmark holds `rdr status` to). Assumes the resync
/// goes in disk order with a bounded number of tasks in flight: a binary search finds the
/// frontier, then `window` regions either side of it are compared one by one.
struct FrontierProbe {
    let regions: [Int]
    let regionSize: Int64
    let size: Int64
    let source: FileDescriptor
    let target: FileDescriptor
    let window = 160
    /// One region of each member; `equal` runs hundreds of times per sample.
    private let a: AlignedBuffer, b: AlignedBuffer

    init(pair: DivergedPair) throws {
        regions = pair.union.flatMap { Array($0) }
        regionSize = pair.regionSize
        size = pair.size
        source = try FileDescriptor.open(pair.source, .readOnly, sys: LinuxSystemCalls())
        target = try FileDescriptor.open(pair.target, .readOnly, sys: LinuxSystemCalls())
        a = AlignedBuffer(count: Int(regionSize))
        b = AlignedBuffer(count: Int(regionSize))
    }

    func close() {
        source.close()
        target.close()
    }

    private func length(_ r: Int) -> Int { Int(min(regionSize, size - Int64(r) * regionSize)) }

    private func equal(_ r: Int) -> Bool {
        let n = length(r)
        let offset = Int64(r) * regionSize
        guard (try? source.readFully(into: a.pointer, count: n, at: offset)) != nil,
            (try? target.readFully(into: b.pointer, count: n, at: offset)) != nil
        else { return false }
        return memcmp(a.pointer, b.pointer, n) == 0
    }

    func doneBytes() -> Int64 {
        // First index whose region still differs, if the done regions form a prefix.
        var low = 0
        var high = regions.count
        while low < high {
            let mid = (low + high) / 2
            if equal(regions[mid]) { low = mid + 1 } else { high = mid }
        }
        let from = max(0, low - window)
        let to = min(regions.count, low + window)
        var done: Int64 = regions[..<from].reduce(0) { $0 + Int64(length($1)) }
        for i in from..<to where equal(regions[i]) { done += Int64(length(regions[i])) }
        return done
    }
}
