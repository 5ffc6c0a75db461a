import Foundation
import Synchronization

/// Runs one resync of a virtual disk: dedicated worker threads pull tasks from the planner,
/// copy or punch under the disk's range lock (so a concurrent write to the same region waits),
/// and report completed regions. The calling thread checkpoints (target durable, then the
/// completed regions' bits cleared and persisted) and publishes progress.
final class ResyncEngine: @unchecked Sendable {
    let disk: VirtualDisk
    let start: VirtualDisk.ResyncStart
    let options: ResyncOptions
    let source: FileDescriptor
    let target: FileDescriptor
    private let planner: Mutex<ResyncPlanner>
    private let pending = Mutex<[Range<Int>]>([])
    private let failure = Mutex<RDRError?>(nil)
    private let copied = Atomic<Int64>(0)
    private let punched = Atomic<Int64>(0)
    private let punchedSinceCheckpoint = Atomic<Int64>(0)
    private let done = Atomic<Int64>(0)
    private let throttle: Throttle?
    private let copyFileRangeRefused = Atomic<Bool>(false)

    init(disk: VirtualDisk, start: VirtualDisk.ResyncStart, options: ResyncOptions) {
        self.disk = disk
        self.start = start
        self.options = options
        source = disk.images[start.source.index]
        target = disk.images[start.source.other.index]
        planner = Mutex(ResyncPlanner(work: start.work, regionSize: disk.regionSize, size: disk.size,
                                      maxIOSize: options.maxIOSize, source: disk.images[start.source.index]))
        throttle = options.maxRate.map { Throttle(bytesPerSecond: $0, maxChunk: Int(options.maxIOSize)) }
    }

    private var stopping: Bool {
        failure.withLock { $0 != nil } || (options.cancellation?.isCancelled ?? false)
    }

    private func fail(_ error: RDRError) {
        failure.withLock { if $0 == nil { $0 = error } }
    }

    // MARK: Workers

    private func workerLoop() {
        let buffer = AlignedBuffer(count: Int(options.maxIOSize))
        while !stopping {
            let task: ResyncTask?
            do { task = try planner.withLock { (p) throws(Errno) in try p.next() } } catch {
                fail(RDRError.io(error))
                return
            }
            guard let task else { return }
            let token = disk.ranges.lock([task.bytes])
            let completed: Bool
            do {
                completed = try perform(task, buffer: buffer)
            } catch {
                disk.ranges.unlock(token)
                fail(RDRError.io(error))
                return
            }
            disk.ranges.unlock(token)
            guard completed else { return }  // cancelled while throttled: the task's bits stay set
            pending.withLock { $0.append(task.regions) }
            done.add(Int64(task.bytes.count), ordering: .relaxed)
        }
    }

    /// Does one task; false when a cancel stopped it part way (throttled copies wait for it).
    private func perform(_ task: ResyncTask, buffer: AlignedBuffer) throws(Errno) -> Bool {
        switch task.kind {
        case .punch:
            try punch(task.bytes)
        case .copy where task.allData:
            return try copy(task.bytes, buffer: buffer)
        case .copy:
            // Mixed region(s): copy the source's data segments, punch its holes.
            var pos = task.bytes.lowerBound
            let end = task.bytes.upperBound
            while pos < end {
                let d = min(try source.nextData(from: pos) ?? end, end)
                if d > pos { try punch(pos..<d) }
                if d >= end { break }
                let h = min(try source.nextHole(from: d), end)
                guard try copy(d..<h, buffer: buffer) else { return false }
                pos = h
            }
        }
        return true
    }

    private func punch(_ range: Range<Int64>) throws(Errno) {
        try target.punchHole(at: range.lowerBound, length: Int64(range.count))
        punched.add(Int64(range.count), ordering: .relaxed)
        punchedSinceCheckpoint.add(Int64(range.count), ordering: .relaxed)
    }

    /// Copies `range`; false when cancelled while waiting for the throttle. Under a throttle
    /// each transfer is at most its grain, so the cap holds over any second.
    private func copy(_ range: Range<Int64>, buffer: AlignedBuffer) throws(Errno) -> Bool {
        var pos = range.lowerBound
        while pos < range.upperBound {
            var n = Int(min(Int64(buffer.count), range.upperBound - pos))
            if let throttle {
                n = min(n, throttle.grain)
                guard throttle.acquire(n, cancellation: options.cancellation) else { return false }
            }
            if options.copyMethod == .copyFileRange && !copyFileRangeRefused.load(ordering: .relaxed) {
                do {
                    let moved = try source.copyRange(to: target, from: pos, to: pos, count: n)
                    if moved > 0 {
                        pos += Int64(moved)
                        copied.add(Int64(moved), ordering: .relaxed)
                        continue
                    }
                    copyFileRangeRefused.store(true, ordering: .relaxed)
                } catch where [EXDEV, ENOSYS, EOPNOTSUPP, EINVAL].contains(error.code) {
                    copyFileRangeRefused.store(true, ordering: .relaxed)
                }
            }
            try source.readFully(into: buffer.pointer, count: n, at: pos)
            try target.write(from: buffer.pointer, count: n, at: pos)
            pos += Int64(n)
            copied.add(Int64(n), ordering: .relaxed)
        }
        return true
    }

    // MARK: Checkpoints

    /// Makes every completed task durable on the target, then clears its regions' bits —
    /// except regions written to both members during this run, which `finishResync` clears.
    private func checkpoint() throws(RDRError) -> Bool {
        let completed = pending.withLock { p -> [Range<Int>] in
            defer { p.removeAll() }
            return p
        }
        guard !completed.isEmpty else { return false }
        let needsMetadataSync = punchedSinceCheckpoint.exchange(0, ordering: .relaxed) > 0
        try io { () throws(Errno) in
            // Punched holes are file metadata: fsync, not just fdatasync, makes them durable.
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

    // MARK: Driver

    func run(observer: (@Sendable (ResyncProgress) -> Void)?) throws(RDRError) -> ResyncSummary {
        disk.state.withLock { $0.mirroredDuringResync = DirtyBitmap(regionCount: disk.regionCount) }
        // Diverged regions are scattered: kernel readahead past each one is wasted disk time.
        source.adviseRandomAccess(true)
        defer { source.adviseRandomAccess(false) }
        let begin = Monotonic.now()
        let publisher = ProgressPublisher(path: disk.system.progressPath(disk: disk.name), sys: disk.system.sys)
        var window = RateWindow()
        func progress(_ state: String) -> ResyncProgress {
            let now = Monotonic.now()
            let d = start.doneBefore + done.load(ordering: .relaxed)
            window.add(time: now, bytes: d)
            let rate = window.shortRate
            let remaining = max(0, start.planBytes - d)
            return ResyncProgress(
                disk: disk.name, pid: getpid(), state: state, source: start.source.rawValue, target: start.source.other.rawValue,
                bytesTotal: start.planBytes, bytesDone: min(d, start.planBytes),
                percent: ResyncProgress.percent(done: d, total: start.planBytes, finished: state == "finished"),
                rateBytesPerSecond: rate, rateLongBytesPerSecond: window.longRate,
                etaSeconds: state == "finished" ? 0 : (rate > 0 ? Double(remaining) / rate : nil),
                elapsedSeconds: now - begin, updatedMillis: Int64(Date().timeIntervalSince1970 * 1000))
        }
        func report(_ state: String) {
            let p = progress(state)
            publisher.publish(p)
            observer?(p)
        }

        let group = DispatchGroup()
        for i in 0..<options.workers {
            group.enter()
            let thread = Thread { [self] in
                workerLoop()
                group.leave()
            }
            thread.name = "rdr-resync-\(i)"
            thread.start()
        }
        report("running")
        var checkpoints = 0
        var lastCheckpoint = Monotonic.now()
        var doneAtCheckpoint: Int64 = 0
        var lastPublish = Monotonic.now()
        let tick = DispatchTimeInterval.milliseconds(max(1, min(50, Int(options.publishSeconds * 1000))))
        while group.wait(timeout: .now() + tick) == .timedOut {
            let now = Monotonic.now()
            let d = done.load(ordering: .relaxed)
            if now - lastCheckpoint >= options.checkpointSeconds || d - doneAtCheckpoint >= options.checkpointBytes {
                do {
                    if try checkpoint() { checkpoints += 1 }
                } catch {
                    fail(error)
                }
                lastCheckpoint = now
                doneAtCheckpoint = d
            }
            if now - lastPublish >= options.publishSeconds {
                report("running")
                lastPublish = now
            }
        }
        // Keep what was completed, even when stopping on an error or a cancel.
        do {
            if try checkpoint() { checkpoints += 1 }
        } catch {
            fail(error)
        }
        if let error = failure.withLock({ $0 }) {
            report("failed")
            disk.state.withLock { $0.mirroredDuringResync = nil }
            throw error
        }
        if options.cancellation?.isCancelled ?? false {
            let p = progress("interrupted")
            publisher.publish(p)
            observer?(p)
            disk.state.withLock { $0.mirroredDuringResync = nil }
            throw RDRError(.interrupted, "resync of '\(disk.name)' interrupted at \(p.percent)%; resume it with 'rdr disk resync \(disk.name) --from \(start.source)'")
        }
        try disk.finishResync()
        report("finished")
        return ResyncSummary(disk: disk.name, source: start.source, target: start.source.other,
                             bytesPlanned: start.planBytes, bytesDoneBefore: start.doneBefore,
                             bytesCopied: copied.load(ordering: .relaxed), bytesPunched: punched.load(ordering: .relaxed),
                             checkpoints: checkpoints, seconds: Monotonic.now() - begin)
    }
}

extension VirtualDisk {
    /// Copies the union of both members' dirty regions from `source` to the other member and
    /// returns both identical, duplexed, with empty bitmaps. Resumes an interrupted resync in
    /// the same direction. `extra` adds regions to copy (verify's repair).
    public func resync(from source: Enclosure, options: ResyncOptions = ResyncOptions(), extra: DirtyBitmap? = nil,
                       observer: (@Sendable (ResyncProgress) -> Void)? = nil) throws(RDRError) -> ResyncSummary {
        try options.validate()
        guard let start = try beginResync(from: source, extra: extra) else {
            return ResyncSummary(disk: name, source: source, target: source.other, bytesPlanned: 0, bytesDoneBefore: 0,
                                 bytesCopied: 0, bytesPunched: 0, checkpoints: 0, seconds: 0)
        }
        return try ResyncEngine(disk: self, start: start, options: options).run(observer: observer)
    }
}
