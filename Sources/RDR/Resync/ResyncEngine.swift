import Glibc
import Synchronization

/// Runs one resync of a virtual disk: worker threads (`WorkerPool`) pull tasks from the
/// planner, copy or punch under the disk's range lock (so a concurrent write to the same region
/// waits), and report completed regions. The calling thread checkpoints (target durable, then
/// the completed regions' bits cleared and persisted) and publishes progress.
final class ResyncEngine: Sendable {
    let disk: VirtualDisk
    let start: VirtualDisk.ResyncStart
    let options: ResyncOptions
    let source: FileDescriptor
    let target: FileDescriptor
    private let planner: Mutex<ResyncPlanner>
    private let pending = Mutex<[Range<Int>]>([])
    private let failure = Mutex<RDRError?>(nil)
    let copied = Atomic<Int64>(0)
    private let punched = Atomic<Int64>(0)
    private let cloned = Atomic<Int64>(0)
    let directBytes = Atomic<Int64>(0)
    /// Punches and clones change the target's extent map, which only fsync makes durable.
    private let extentsChangedSinceCheckpoint = Atomic<Bool>(false)
    private let done = Atomic<Int64>(0)
    /// The pace: `--max-rate` while the disk is idle, `--min-rate` while clients use it.
    let throttle: Throttle
    private let copyFileRangeRefused = Atomic<Bool>(false)
    private let cloneRefused = Atomic<Bool>(false)
    let directRefused = Atomic<Bool>(false)
    /// The device path's transfers per worker: 8 × 128 KiB in flight, as much memory as the
    /// thread path's 1 MiB buffer, and 64 requests queued with the default 8 workers.
    static let directChunk = 128 << 10
    static let directDepth = 8
    /// Clones cover whole 4 KiB blocks (the block size of XFS and btrfs on x86 by default); a
    /// filesystem with larger blocks refuses the first with EINVAL and the bytes are copied.
    static let cloneAlignment: Int64 = 4096
    /// Copy tasks once a clone worked: one FICLONERANGE costs about the same for 1 MiB as for
    /// 256 MiB of contiguous extents, and the range lock is held for a few milliseconds.
    static let cloneTaskSize: Int64 = 256 << 20
    private let cloneWorked = Atomic<Bool>(false)

    init(disk: VirtualDisk, start: VirtualDisk.ResyncStart, options: ResyncOptions) {
        self.disk = disk
        self.start = start
        self.options = options
        source = disk.images[start.source.index]
        target = disk.images[start.source.other.index]
        planner = Mutex(
            ResyncPlanner(
                work: start.work, geometry: disk.geometry, maxIOSize: options.maxIOSize,
                source: disk.images[start.source.index]))
        throttle = Throttle(
            maxRate: options.maxRate, minRate: options.effectiveMinRate,
            load: LoadSensor(activity: disk.foreground, clock: options.clock, quietSeconds: options.quietSeconds),
            maxChunk: Int(options.maxIOSize), clock: options.clock)
    }

    private var stopping: Bool {
        failure.withLock { $0 != nil } || (options.cancellation?.isCancelled ?? false)
    }

    private func fail(_ error: RDRError) {
        failure.withLock { if $0 == nil { $0 = error } }
    }

    // MARK: Driver

    func run(observer: (@Sendable (ResyncProgress) -> Void)?) throws(RDRError) -> ResyncSummary {
        disk.trackWritesDuringResync(true)
        // Diverged regions are scattered: kernel readahead past each one is wasted disk time.
        source.adviseRandomAccess(true)
        defer { source.adviseRandomAccess(false) }
        let reporter = ProgressReporter(disk: disk, start: start, observer: observer)
        var schedule = Schedule(now: disk.sys.clock.monotonicSeconds())
        var checkpoints = 0
        reporter.report(.running, done: done.load(ordering: .relaxed))
        let interval = Double(max(1, min(50, Int(options.publishSeconds * 1000)))) / 1000
        do {
            try WorkerPool.run(
                count: options.workers, name: "rdr-resync", interval: interval,
                tick: { checkpoints += tick(&schedule, reporter) },
                work: { [self] _ in workerLoop() })
        } catch {
            fail(error)
        }
        // Keep what was completed, even when stopping on an error or a cancel.
        checkpoints += checkpointOrFail()
        try stopIfFailedOrCancelled(reporter)
        try disk.finishResync()
        reporter.report(.finished, done: done.load(ordering: .relaxed))
        return ResyncSummary(
            disk: disk.name, source: start.source, target: start.source.other,
            bytesPlanned: start.planBytes, bytesDoneBefore: start.doneBefore,
            bytesCopied: copied.load(ordering: .relaxed),
            bytesPunched: punched.load(ordering: .relaxed), checkpoints: checkpoints,
            seconds: reporter.elapsed, bytesCloned: cloned.load(ordering: .relaxed),
            bytesDirect: directBytes.load(ordering: .relaxed))
    }

    /// When the calling thread last checkpointed and published.
    private struct Schedule {
        var lastCheckpoint: Double
        var doneAtCheckpoint: Int64 = 0
        var lastPublish: Double

        init(now: Double) {
            lastCheckpoint = now
            lastPublish = now
        }
    }

    /// The calling thread's round while the workers copy: a checkpoint when one is due (by time
    /// or by bytes), progress when due. Returns the checkpoints made (0 or 1).
    private func tick(_ schedule: inout Schedule, _ reporter: ProgressReporter) -> Int {
        let now = disk.sys.clock.monotonicSeconds()
        let d = done.load(ordering: .relaxed)
        var made = 0
        if now - schedule.lastCheckpoint >= options.checkpointSeconds
            || d - schedule.doneAtCheckpoint >= options.checkpointBytes
        {
            made = checkpointOrFail()
            schedule.lastCheckpoint = now
            schedule.doneAtCheckpoint = d
        }
        if now - schedule.lastPublish >= options.publishSeconds {
            reporter.report(.running, done: d)
            schedule.lastPublish = now
        }
        return made
    }

    /// After the workers stopped: an error or a cancel ends the run here, published, with the
    /// checkpointed work kept as the resume record.
    private func stopIfFailedOrCancelled(_ reporter: ProgressReporter) throws(RDRError) {
        if let error = failure.withLock({ $0 }) {
            reporter.report(.failed, done: done.load(ordering: .relaxed))
            disk.trackWritesDuringResync(false)
            throw error
        }
        if options.cancellation?.isCancelled ?? false {
            let p = reporter.report(.interrupted, done: done.load(ordering: .relaxed))
            disk.trackWritesDuringResync(false)
            throw RDRError(
                .interrupted,
                "resync of '\(disk.name)' interrupted at \(p.percent)%; resume it with "
                    + "'rdr disk resync \(disk.name) --from \(start.source)'")
        }
    }

    // MARK: Workers

    private func workerLoop() {
        let tools = WorkerTools(buffer: AlignedBuffer(count: Int(options.maxIOSize)), direct: makeDirectCopier())
        // The device path takes several tasks at once, so its queue holds more than one extent.
        let batch = tools.direct == nil ? 1 : Self.directDepth
        while !stopping {
            let tasks: [ResyncTask]
            do { tasks = try planner.withLock { (p) throws(Errno) in try p.next(upTo: batch) } } catch {
                fail(RDRError.io(error))
                return
            }
            guard !tasks.isEmpty else { return }
            let completed: Bool
            do {
                if throttle.rate == nil {
                    completed = try disk.ranges.withLock(tasks.map(\.bytes)) { () throws(Errno) in
                        try perform(tasks, tools: tools)
                    }
                } else {
                    completed = try performPaced(tasks, tools: tools)
                }
            } catch {
                fail(RDRError.io(error))
                return
            }
            guard completed else { return }  // cancelled while throttled: the tasks' bits stay set
            pending.withLock { $0.append(contentsOf: tasks.map(\.regions)) }
            done.add(tasks.reduce(0) { $0 + Int64($1.bytes.count) }, ordering: .relaxed)
        }
    }

    /// Does a batch of tasks at full speed, under one range lock: through the device path when
    /// the worker has one, else one by one.
    private func perform(_ tasks: [ResyncTask], tools: WorkerTools) throws(Errno) -> Bool {
        if let direct = tools.direct, !directRefused.load(ordering: .relaxed) {
            return try performQueued(tasks, direct: direct, buffer: tools.buffer)
        }
        for task in tasks { try perform(task, in: task.bytes, tools: tools) }
        return true
    }

    /// Does tasks while a rate applies, a grain at a time: the budget of each piece is waited
    /// for before its bytes are locked, so a client's write into the task never waits out a
    /// throttle sleep, only one piece's copy. Punches cost no budget. The pieces of a task are
    /// locked one after another: a write between two lands on both members (and keeps its
    /// bits), so the copy of the next piece reads what it wrote. False when cancelled.
    private func performPaced(_ tasks: [ResyncTask], tools: WorkerTools) throws(Errno) -> Bool {
        for task in tasks {
            guard task.kind == .copy else {
                try disk.ranges.withLock([task.bytes]) { () throws(Errno) in try punch(task.bytes) }
                continue
            }
            var pos = task.bytes.lowerBound
            while pos < task.bytes.upperBound {
                guard let n = throttle.admit(upTo: task.bytes.upperBound - pos, cancellation: options.cancellation)
                else { return false }
                let piece = pos..<pos + n
                try disk.ranges.withLock([piece]) { () throws(Errno) in try perform(task, in: piece, tools: tools) }
                pos += n
            }
        }
        return true
    }

    /// Does `piece` of one task (all of it, or a paced part) by the pread/pwrite path.
    private func perform(_ task: ResyncTask, in piece: Range<Int64>, tools: WorkerTools) throws(Errno) {
        switch task.kind {
        case .punch:
            try punch(piece)
        case .copy where task.allData:
            try copy(piece, tools: tools)
        case .copy:
            // Mixed region(s): copy the source's data segments, punch its holes.
            _ = try source.forEachSegment(
                of: piece, hole: { (r) throws(Errno) in try punch(r) },
                data: { (r) throws(Errno) in
                    try copy(r, tools: tools)
                    return true
                })
        }
    }

    func punch(_ range: Range<Int64>) throws(Errno) {
        try target.punchHole(at: range.lowerBound, length: Int64(range.count))
        punched.add(Int64(range.count), ordering: .relaxed)
        extentsChangedSinceCheckpoint.store(true, ordering: .relaxed)
    }

    /// Copies `range`. Unless `--max-rate` asks to move bytes at a rate, extents are shared
    /// where the filesystem can (a clone costs metadata, not a read and a write of the data).
    private func copy(_ range: Range<Int64>, tools: WorkerTools) throws(Errno) {
        let pos = options.maxRate == nil ? try clone(range) : range.lowerBound
        try copyBytes(pos..<range.upperBound, buffer: tools.buffer)
    }

    /// The thread path: pread/pwrite (or copy_file_range) through the worker's buffer. Paced
    /// callers have waited for the throttle already: nothing here sleeps under a range lock.
    func copyBytes(_ range: Range<Int64>, buffer: AlignedBuffer) throws(Errno) {
        var pos = range.lowerBound
        while pos < range.upperBound {
            let n = Int(min(Int64(buffer.count), range.upperBound - pos))
            if options.copyMethod == .copyFileRange, !copyFileRangeRefused.load(ordering: .relaxed),
                let moved = try copyInKernel(at: pos, count: n)
            {
                pos += Int64(moved)
                copied.add(Int64(moved), ordering: .relaxed)
                continue
            }
            try source.readFully(into: buffer.pointer, count: n, at: pos)
            try target.write(from: buffer.pointer, count: n, at: pos)
            pos += Int64(n)
            copied.add(Int64(n), ordering: .relaxed)
        }
    }

    /// Makes the target share the source's extents for the block-aligned part of `range`
    /// (FICLONERANGE) and returns where the byte copy continues: after the clone, or at the
    /// start when the filesystem refuses (remembered: no further clone in this resync).
    func clone(_ range: Range<Int64>) throws(Errno) -> Int64 {
        let a = Self.cloneAlignment
        let length = Int64(range.count) / a * a
        guard length > 0, range.lowerBound % a == 0, !cloneRefused.load(ordering: .relaxed) else {
            return range.lowerBound
        }
        do {
            try source.cloneRange(to: target, from: range.lowerBound, to: range.lowerBound, count: Int(length))
        } catch  where [EOPNOTSUPP, EXDEV, EINVAL, ENOTTY, ENOSYS].contains(error.code) {
            cloneRefused.store(true, ordering: .relaxed)
            return range.lowerBound
        }
        extentsChangedSinceCheckpoint.store(true, ordering: .relaxed)
        if !cloneWorked.exchange(true, ordering: .relaxed) {
            planner.withLock { $0.maxIOSize = max($0.maxIOSize, Self.cloneTaskSize) }
        }
        cloned.add(length, ordering: .relaxed)
        copied.add(length, ordering: .relaxed)
        return range.lowerBound + length
    }

    /// copy_file_range; nil (and never again) when the kernel or filesystem refuses it, so the
    /// caller falls back to pread/pwrite.
    private func copyInKernel(at pos: Int64, count: Int) throws(Errno) -> Int? {
        do {
            let moved = try source.copyRange(to: target, from: pos, to: pos, count: count)
            if moved > 0 { return moved }
        } catch  where [EXDEV, ENOSYS, EOPNOTSUPP, EINVAL].contains(error.code) {}
        copyFileRangeRefused.store(true, ordering: .relaxed)
        return nil
    }

    // MARK: Checkpoints

    /// A checkpoint; an error is kept as the run's failure (the workers then stop). 1 when one
    /// was made.
    private func checkpointOrFail() -> Int {
        do { return try checkpoint() ? 1 : 0 } catch {
            fail(error)
            return 0
        }
    }

    /// Makes every completed task durable on the target, then clears its regions' bits —
    /// except regions written to both members during this run, which `finishResync` clears.
    private func checkpoint() throws(RDRError) -> Bool {
        let completed = pending.withLock { p -> [Range<Int>] in
            defer { p.removeAll() }
            return p
        }
        guard !completed.isEmpty else { return false }
        let needsMetadataSync = extentsChangedSinceCheckpoint.exchange(false, ordering: .relaxed)
        try io { () throws(Errno) in
            // Punched holes and cloned extents are file metadata: fsync, not just fdatasync,
            // makes them durable.
            if needsMetadataSync { try target.sync() } else { try target.dataSync() }
        }
        let t = start.source.other
        try disk.state.withLock { (s) throws(RDRError) in
            for range in completed {
                for r in range where !(s.mirroredDuringResync?.isSet(r) ?? false) { s.bitmaps[t.index].clear(r) }
            }
            try disk.persist(t, in: &s)
        }
        return true
    }
}
