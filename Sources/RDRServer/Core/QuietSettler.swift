import Glibc
import RDR
import Synchronization

/// Clears the write-intent bits of a duplex disk's client writes once the disk goes quiet, as
/// md's bitmap daemon clears bits after their writes complete: without it the bits of writes a
/// client never FLUSHed stay set while the server runs, and `status` (which reads the metadata
/// from another process) shows `Resync needed` for a disk whose members are identical. A disk is
/// quiet when no client request began or ran for `interval` (its `LoadSensor`); it is then flushed
/// (its images synced, those bits cleared). Nothing is flushed while clients keep writing: a
/// client's own FLUSH does that, at most every `ServerCore.bitClearInterval`. The interval is
/// md's `daemon_sleep` (5 s): a client that pauses for less keeps its bits, so its next burst
/// does not pay write-intent again on every region it rewrites.
final class QuietSettler: Sendable {
    static let interval = 5.0
    /// How often the disks are looked at (and how long a stopping server waits at most).
    static let pollSeconds = 0.5
    private let core: ServerCore
    private let running = Atomic<Bool>(true)
    private let ended = ConditionLock()
    private nonisolated(unsafe) var done = false  // guarded by `ended`

    init(core: ServerCore) { self.core = core }

    func start() {
        do {
            try Threads.start(name: "rdr-nbd-settle") { [self] in
                run()
                ended.withLock {
                    done = true
                    ended.broadcast()
                }
            }
        } catch {
            // Best effort: without it, bits are cleared by clients' FLUSHes and at stop.
            core.log("the idle flusher cannot start (\(error)); clients' FLUSH and the stop clear write-intent bits")
            ended.withLock { done = true }
        }
    }

    /// Ends the thread and waits for it (before the server's final flush and the disks' close).
    func stop() {
        running.store(false, ordering: .relaxed)
        ended.withLock { while !done { ended.wait() } }
    }

    private func run() {
        var sensors: [String: LoadSensor] = [:]
        while running.load(ordering: .relaxed) {
            usleep(useconds_t(Self.pollSeconds * 1_000_000))
            for (name, disk) in core.usedDisks where running.load(ordering: .relaxed) {
                let sensor = sensors[name] ?? disk.loadSensor(quietSeconds: Self.interval)
                sensors[name] = sensor
                guard !sensor.isBusy, disk.hasUnsettledWrites else { continue }
                do throws(RDRError) { try disk.flush() } catch {
                    core.log("flush of idle disk '\(name)' failed: \(error.message)")
                }
            }
        }
    }
}
