import Glibc

/// The resync's device path (`--copy-method uring`): each worker takes a batch of tasks,
/// punches and clones what it can, and moves the block-aligned rest of the batch through one
/// io_uring pipeline of O_DIRECT reads and writes (`DirectCopier`); unaligned tails go through
/// pread/pwrite. The batch's ranges are locked together, like one write of several requests.
extension ResyncEngine {
    /// The worker's device path when the copy method asks for it and this system allows it;
    /// nil otherwise, and for good once refused. Only on the real system: io_uring's transfers
    /// do not go through the `SystemCalls` seam, so a test double (fault injection, power cuts)
    /// keeps the thread path it models.
    func makeDirectCopier() -> DirectCopier? {
        guard options.maxRate == nil, options.copyMethod.usesDeviceQueue, disk.sys is LinuxSystemCalls,
            !directRefused.load(ordering: .relaxed)
        else { return nil }
        // The open member images themselves, whatever their paths name by now.
        let copier = DirectCopier.make(
            sourcePath: "/proc/self/fd/\(source.rawValue)",
            targetPath: "/proc/self/fd/\(target.rawValue)",
            chunk: Self.directChunk, depth: Self.directDepth, sys: disk.sys)
        if copier == nil { directRefused.store(true, ordering: .relaxed) }
        return copier
    }

    /// Does `tasks` through the device path. Always true: nothing here waits for a throttle.
    func performQueued(_ tasks: [ResyncTask], direct: DirectCopier, buffer: AlignedBuffer) throws(Errno) -> Bool {
        var data: [Range<Int64>] = []
        for task in tasks {
            switch task.kind {
            case .punch:
                try punch(task.bytes)
            case .copy where task.allData:
                data.append(task.bytes)
            case .copy:
                _ = try source.forEachSegment(
                    of: task.bytes, hole: { (r) throws(Errno) in try punch(r) },
                    data: { (r) throws(Errno) in
                        data.append(r)
                        return true
                    })
            }
        }
        var rest: [Range<Int64>] = []
        for r in data {
            let pos = try clone(r)
            if pos < r.upperBound { rest.append(pos..<r.upperBound) }
        }
        return try copyQueued(rest, direct: direct, buffer: buffer)
    }

    /// The block-aligned parts of `ranges` in one pipeline, then their tails with pread/pwrite.
    /// EINVAL from the filesystem (O_DIRECT refused for these files) is remembered: this and
    /// every later batch then go through the thread path.
    private func copyQueued(_ ranges: [Range<Int64>], direct: DirectCopier, buffer: AlignedBuffer) throws(Errno) -> Bool
    {
        let parts = ranges.map(DirectCopier.alignedPart(of:))
        do { try direct.copy(parts.filter { !$0.isEmpty }) } catch  where error.code == EINVAL {
            directRefused.store(true, ordering: .relaxed)
            for r in ranges { _ = try copyBytes(r, buffer: buffer) }
            return true
        }
        let moved = parts.reduce(Int64(0)) { $0 + Int64($1.count) }
        copied.add(moved, ordering: .relaxed)
        directBytes.add(moved, ordering: .relaxed)
        for (r, p) in zip(ranges, parts) where p.upperBound < r.upperBound {
            _ = try copyBytes(p.upperBound..<r.upperBound, buffer: buffer)
        }
        return true
    }
}
