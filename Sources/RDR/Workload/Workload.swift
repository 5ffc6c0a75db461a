/// A split-mode (or any-mode) write load on one side of a disk: random or sequential writes of
/// pattern data. Writes go in batches, and each batch persists its newly dirtied regions once
/// before its data (md's plugging), so write-intent costs one metadata sync per batch.
public struct Workload: Sendable {
    public enum Order: String, Sendable, CaseIterable { case random, sequential }

    public var bytes: Int64
    public var ioSize: Int64 = 64 << 10
    public var order = Order.random
    public var seed: UInt64 = 1
    public var batch = 32
    /// Only the range [offset, offset + length) of the disk is written (whole disk by default).
    public var offset: Int64 = 0
    public var length: Int64?
    /// Checked between batches: a cancelled load flushes what it wrote and stops.
    public var cancellation: CancellationFlag?

    /// The documented range of each option (the CLI refuses values outside them, 64).
    public static let bytesRange: ClosedRange<Int64> = 1...(1 << 50)
    public static let ioSizeRange: ClosedRange<Int64> = 512...(64 << 20)
    public static let batchRange = 1...1024

    public init(bytes: Int64) { self.bytes = bytes }

    public struct Summary: Sendable {
        public var bytesWritten: Int64
        public var writes: Int
        public var seconds: Double
        public var mibPerSecond: Double { seconds > 0 ? Double(bytesWritten) / seconds / 1_048_576 : 0 }
    }

    public func validate(diskSize: Int64) throws(RDRError) {
        guard Self.bytesRange.contains(bytes) else {
            throw RDRError(.invalidArgument, "--bytes must be from 1 to 1P, not \(bytes)")
        }
        guard Self.ioSizeRange.contains(ioSize), ioSize % 512 == 0 else {
            throw RDRError(.invalidArgument, "--io-size must be a multiple of 512 from 512 to 64M, not \(ioSize)")
        }
        let span = length ?? (diskSize - offset)
        guard offset >= 0, offset <= diskSize, span >= ioSize, span <= diskSize - offset else {
            throw RDRError(
                .invalidArgument,
                "the workload range must fit inside the disk and hold at least one \(ioSize)-byte write")
        }
        guard Self.batchRange.contains(batch) else { throw RDRError(.invalidArgument, "--batch must be 1 to 1024") }
    }

    /// Runs the load, batch by batch, and makes it durable at the end (or at a cancel).
    public func run(on disk: VirtualDisk, side: SideSelector?) throws(RDRError) -> Summary {
        try validate(diskSize: disk.size)
        let span = length ?? (disk.size - offset)
        let slots = span / ioSize
        var rng = SplitMixRandom(seed: seed)
        let io = Int(ioSize)
        let buffers = (0..<batch).map { _ in AlignedBuffer(count: io) }
        let clock = disk.sys.clock
        let begin = clock.monotonicSeconds()
        var written: Int64 = 0
        var writes = 0
        var sequential: Int64 = 0
        while written < bytes {
            if cancellation?.isCancelled ?? false {
                try disk.flush()
                throw RDRError(
                    .interrupted,
                    "workload on '\(disk.name)' interrupted after \(ByteSize.format(written)) in \(writes) writes (durable, every written region marked)"
                )
            }
            var requests: [VirtualDisk.WriteRequest] = []
            for b in buffers where written + Int64(requests.count) * ioSize < bytes {
                let slot: Int64
                switch order {
                case .random: slot = Int64(rng.next() % UInt64(slots))
                case .sequential:
                    slot = sequential % slots
                    sequential += 1
                }
                let at = offset + slot * ioSize
                let n = Int(min(ioSize, bytes - written - Int64(requests.count) * ioSize))
                Pattern.fill(b.pointer, count: n, seed: seed, offset: at)
                requests.append(
                    VirtualDisk.WriteRequest(offset: at, bytes: UnsafeRawBufferPointer(start: b.pointer, count: n)))
            }
            try disk.write(side: side, requests)
            for q in requests { written += Int64(q.bytes.count) }
            writes += requests.count
        }
        try disk.flush()
        return Summary(bytesWritten: written, writes: writes, seconds: clock.monotonicSeconds() - begin)
    }
}
