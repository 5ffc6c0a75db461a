import Foundation
import RDR

/// A diverged member pair built through the engine: a sparse disk of `size` with `allocated`
/// of it written identically on both members, then split, then writes on each side covering a
/// fraction of the regions (the source side twice as many as the target side). Member 10 is the
/// source, member 11 the target. `restore()` puts the target and both metadata files back into
/// the diverged state, touching only the diverged regions (outside them the target equals the
/// source, whatever tool ran).
final class DivergedPair {
    let dir: String
    let system: String
    let size: Int64
    let regionSize: Int64
    let union: [Range<Int>]
    let divergedBytes: Int64
    let bytesWritten: Int64
    private let targetHoles: Set<Int>

    var source: String { system + "/d-10.img" }
    var target: String { system + "/d-11.img" }
    private var pristine: String { dir + "/pristine-target.img" }

    struct Spec {
        var size: Int64
        var allocated: Double
        var sourceFraction: Double
        var regionSize: Int64 = 64 << 10
        /// Bytes per divergence write; the region size unless set (4 KiB for amplification).
        var writeSize: Int64? = nil
        var seed: UInt64 = 1
    }

    init(dir: String, spec: Spec) throws {
        self.dir = dir
        system = dir + "/sys"
        size = spec.size
        regionSize = spec.regionSize
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let rdr = try RDRSystem.create(
            at: system, disks: [DiskSpec(name: "d", size: spec.size, role: .system, regionSize: spec.regionSize)],
            primary: .ten, force: false)
        let disk = try rdr.disk("d")
        try Self.writeBase(disk, spec)
        try disk.split()
        bytesWritten = try Self.writeDivergence(disk, spec)
        var all = disk.bitmap(.ten)
        all.formUnion(disk.bitmap(.eleven))
        union = all.runs
        divergedBytes = union.reduce(0) {
            $0 + min(Int64($1.upperBound) * spec.regionSize, spec.size) - Int64($1.lowerBound) * spec.regionSize
        }
        targetHoles = try Self.savePristine(target: system + "/d-11.img", to: dir + "/pristine-target.img", union, spec)
        for e in [10, 11] {
            try? FileManager.default.removeItem(atPath: "\(dir)/d-\(e).rdrmeta.pristine")
            try FileManager.default.copyItem(
                atPath: "\(system)/d-\(e).rdrmeta", toPath: "\(dir)/d-\(e).rdrmeta.pristine")
        }
    }

    /// Identical base data on both members: 4 MiB chunks spread evenly over the disk.
    private static func writeBase(_ disk: VirtualDisk, _ spec: Spec) throws {
        let chunk: Int64 = 4 << 20
        let chunks = Int64(Double(spec.size) * spec.allocated) / chunk
        guard chunks > 0 else { return }
        let stride = spec.size / chunks / spec.regionSize * spec.regionSize
        let buffer = Pattern.bytes(count: Int(chunk), seed: 777, offset: 0)
        try buffer.withUnsafeBytes { raw in
            for i in 0..<chunks {
                try disk.write(side: nil, [VirtualDisk.WriteRequest(offset: i * stride, bytes: raw)])
            }
        }
        try disk.flush()
    }

    /// The split writes: the source side's fraction of the regions, the target side's half of
    /// it, in batches of 64. Returns the bytes written.
    private static func writeDivergence(_ disk: VirtualDisk, _ spec: Spec) throws -> Int64 {
        let regions = Int((spec.size + spec.regionSize - 1) / spec.regionSize)
        var written: Int64 = 0
        for (side, fraction, seed) in [
            (Side.production, spec.sourceFraction, spec.seed), (Side.upgrade, spec.sourceFraction / 2, spec.seed + 1),
        ] {
            var gen = SplitMixRandom(seed: seed)
            let writeSize = spec.writeSize ?? spec.regionSize
            let picks = DivergedPair.pick(count: Int((Double(regions) * fraction).rounded()), of: regions, rng: &gen)
            var batch: [(Int64, Int)] = []
            let buffer = Pattern.bytes(count: Int(writeSize), seed: seed, offset: 0)
            try buffer.withUnsafeBytes { raw in
                func issue() throws {
                    try disk.write(
                        side: .side(side),
                        batch.map {
                            VirtualDisk.WriteRequest(
                                offset: $0.0, bytes: UnsafeRawBufferPointer(rebasing: raw[0..<$0.1]))
                        })
                    batch.removeAll()
                }
                for r in picks {
                    let start = Int64(r) * spec.regionSize
                    let room = min(spec.regionSize, spec.size - start)
                    let within = writeSize < room ? Int64(gen.next() % UInt64(room / writeSize)) * writeSize : 0
                    let n = Int(min(writeSize, room))
                    batch.append((start + within, n))
                    written += Int64(n)
                    if batch.count == 64 { try issue() }
                }
                if !batch.isEmpty { try issue() }
            }
            try disk.flush()
        }
        return written
    }

    /// Keeps what `restore` needs: the target's diverged regions (copied to `pristine`), and
    /// returns those that are holes in the target.
    private static func savePristine(target: String, to pristine: String, _ union: [Range<Int>], _ spec: Spec)
        throws -> Set<Int>
    {
        var holes = Set<Int>()
        let t = try FileDescriptor.open(target, .readOnly, sys: LinuxSystemCalls())
        defer { t.close() }
        let p = try FileDescriptor.create(pristine, replace: true, sys: LinuxSystemCalls())
        defer { p.close() }
        try p.truncate(to: spec.size)
        let buffer = AlignedBuffer(count: Int(spec.regionSize))
        for run in union {
            for r in run {
                let start = Int64(r) * spec.regionSize
                let n = Int(min(spec.regionSize, spec.size - start))
                if (try t.nextData(from: start) ?? spec.size) >= start + Int64(n) {
                    holes.insert(r)
                    continue
                }
                try t.readFully(into: buffer.pointer, count: n, at: start)
                try p.write(from: buffer.pointer, count: n, at: start)
            }
        }
        return holes
    }

    /// `count` distinct region indices out of `n`, in order.
    static func pick(count: Int, of n: Int, rng: inout SplitMixRandom) -> [Int] {
        if count >= n { return Array(0..<n) }
        if count * 4 < n {
            var set = Set<Int>()
            while set.count < count { set.insert(Int(rng.next() % UInt64(n))) }
            return set.sorted()
        }
        let p = Double(count) / Double(n)
        return (0..<n).filter { _ in Double(rng.next() % 1_000_000) / 1_000_000 < p }
    }

    /// Back to the diverged state: target regions from the pristine copy, metadata files too.
    func restore() throws {
        let sys = LinuxSystemCalls()
        let t = try FileDescriptor.open(target, .readWrite, sys: sys)
        defer { t.close() }
        if try t.status().size != size { try t.truncate(to: size) }
        let p = try FileDescriptor.open(pristine, .readOnly, sys: sys)
        defer { p.close() }
        let buffer = AlignedBuffer(count: Int(regionSize))
        for run in union {
            for r in run {
                let start = Int64(r) * regionSize
                let n = Int(min(regionSize, size - start))
                if targetHoles.contains(r) {
                    try t.punchHole(at: start, length: Int64(n))
                } else {
                    try p.readFully(into: buffer.pointer, count: n, at: start)
                    try t.write(from: buffer.pointer, count: n, at: start)
                }
            }
        }
        try t.sync()
        for e in [10, 11] {
            try? FileManager.default.removeItem(atPath: "\(system)/d-\(e).rdrmeta")
            try FileManager.default.copyItem(
                atPath: "\(dir)/d-\(e).rdrmeta.pristine", toPath: "\(system)/d-\(e).rdrmeta")
        }
        try? FileManager.default.removeItem(atPath: system + "/.d.progress.json")
    }

    /// After a tool that may have left the target wrong: make it the source again, then diverge.
    func rebuildTarget() throws {
        _ = Runner.shell("cp --sparse=always '\(source)' '\(target)'")
        try restore()
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }
}
