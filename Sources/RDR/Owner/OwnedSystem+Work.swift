import Glibc

/// What keeps an owner busy: resyncs running in it (forwarded or background) and connected
/// clients of its control socket.
extension OwnedSystem {
    /// Registers a resync of `disk` running in this process; refused while another runs (two
    /// copy engines on one disk would checkpoint over each other). The other direction gets
    /// the engine's own message. Call `endResync` when it returns.
    public func beginResync(disk: String, from source: Enclosure, cancellation: CancellationFlag?) throws(RDRError) {
        try changed.withLock { () throws(RDRError) in
            if let running = resyncs[disk] {
                if running.source != source {
                    throw RDRError(
                        .invalidState,
                        "disk '\(disk)' is being resynced from \(running.source) to "
                            + "\(running.source.other) (pid \(getpid())); wait for it to finish, it cannot be reversed now"
                    )
                }
                throw RDRError(
                    .busy,
                    "disk '\(disk)' is already being resynced from \(source) by pid \(getpid()); "
                        + "follow it with 'rdr status --watch'")
            }
            resyncs[disk] = RunningResync(source: source, cancellation: cancellation)
        }
    }

    public func endResync(disk: String) {
        changed.withLock {
            resyncs[disk] = nil
            changed.broadcast()
        }
    }

    /// Disks with a resync running in this process.
    public var runningResyncs: [String] { changed.withLock { resyncs.keys.sorted() } }

    /// Cancels every running resync that can be cancelled (they checkpoint and resume later)
    /// and keeps new background resyncs from starting.
    public func cancelResyncs() {
        stopping.cancel()
        changed.withLock { for r in resyncs.values { r.cancellation?.cancel() } }
    }

    /// Runs `jobs` (disk, source) one after another on a thread of the owner — what a detached
    /// background worker would do, inside the process that already holds the system — and
    /// reports each outcome, then calls `done`. The owner's `stopping` cancels them at their
    /// next checkpoint.
    public func startBackgroundResyncs(
        _ jobs: [(String, Enclosure)], options: ResyncOptions,
        report: @escaping @Sendable (String, Result<ResyncSummary, RDRError>) -> Void,
        done: @escaping @Sendable () -> Void = {}
    ) throws(RDRError) {
        var options = options
        options.cancellation = stopping
        let run = options
        changed.withLock { backgroundJobs += 1 }
        do {
            try Threads.start(name: "rdr-bg-resync") { [self] in
                for (name, source) in jobs where !stopping.isCancelled {
                    let outcome: Result<ResyncSummary, RDRError>
                    do throws(RDRError) {
                        outcome = .success(try disk(named: name).resync(from: source, options: run))
                    } catch { outcome = .failure(error) }
                    report(name, outcome)
                }
                done()
                changed.withLock {
                    backgroundJobs -= 1
                    changed.broadcast()
                }
            }
        } catch {
            changed.withLock { backgroundJobs -= 1 }
            throw RDRError(.io, "cannot start a background resync thread: \(error)")
        }
    }

    /// Disks of the system whose resync was started and is not running in this process
    /// (interrupted: a killed worker, a stopped owner), with their direction.
    public func interruptedResyncs() throws(RDRError) -> [(String, Enclosure)] {
        let running = Set(runningResyncs)
        var jobs: [(String, Enclosure)] = []
        for d in system.manifest.disks where !running.contains(d.name) {
            let r = try system.disk(d.name, access: .readOnly).record
            if r.mode == .resyncing, let source = r.resyncSource { jobs.append((d.name, source)) }
        }
        return jobs
    }

    /// A client of the control socket connected (or, `false`, went away).
    public func clientConnected(_ connected: Bool) {
        changed.withLock {
            clients += connected ? 1 : -1
            changed.broadcast()
        }
    }

    /// Waits until no resync runs and no client is connected (a background worker's end), or
    /// `stop` is cancelled. A forwarded command holds its lock only while its client is
    /// connected, so clients cover commands too. Rechecks every second so a cancel needs no wake-up.
    public func waitUntilIdle(unless stop: CancellationFlag) {
        changed.withLock {
            while (!resyncs.isEmpty || backgroundJobs > 0 || clients > 0) && !stop.isCancelled {
                changed.wait(seconds: 1)
            }
        }
    }
}
