import Synchronization

/// Foreground I/O on one virtual disk: every client read and write (`mutate`, the reads) is
/// counted as it starts and while it is in flight, so a resync of the same disk can tell a busy
/// disk from an idle one (md's `is_mddev_idle` compares the disk's I/O counters with its own
/// resync I/O the same way; DRBD's `c-min-rate` check does too). The resync's own copies go to
/// the images directly and are never counted.
final class ForegroundActivity: Sendable {
    private let started = Atomic<UInt64>(0)
    private let inFlight = Atomic<Int>(0)

    init() {}

    /// A foreground request starts (a write waiting for the range lock already counts).
    func begin() {
        started.add(1, ordering: .relaxed)
        inFlight.add(1, ordering: .relaxed)
    }

    func end() { inFlight.subtract(1, ordering: .relaxed) }

    /// Counts `body` as one foreground request.
    func during<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        begin()
        defer { end() }
        return try body()
    }

    var startedCount: UInt64 { started.load(ordering: .relaxed) }
    var inFlightCount: Int { inFlight.load(ordering: .relaxed) }
}

/// Whether a disk is busy with foreground I/O, as a resync sees it: busy while a request is in
/// flight or one started within the last `quietSeconds`. The window keeps a client that
/// pauses between requests (a think time, a `fsync` of its own) from being taken for idle
/// and handed a full-speed resync at every pause; md re-checks every 500 ms likewise.
public final class LoadSensor: Sendable {
    static let defaultQuietSeconds = 0.5
    let activity: ForegroundActivity
    let quietSeconds: Double
    private let clock: any ThrottleClock
    /// The started count last seen, and when foreground I/O was last seen (nil: not yet).
    private let seen: Mutex<(started: UInt64, at: Double?)>

    /// `busyNow`: the sensor starts as if I/O was seen this instant (a disk first looked at
    /// while clients may be using it); otherwise requests before it began do not count (a
    /// resync does not start slow).
    init(
        activity: ForegroundActivity, clock: any ThrottleClock = MonotonicClock(),
        quietSeconds: Double = LoadSensor.defaultQuietSeconds, busyNow: Bool = false
    ) {
        self.activity = activity
        self.clock = clock
        self.quietSeconds = quietSeconds
        seen = Mutex((activity.startedCount, busyNow ? clock.now() : nil))
    }

    public var isBusy: Bool {
        let started = activity.startedCount
        let active = activity.inFlightCount > 0
        let now = clock.now()
        return seen.withLock { s in
            if active || started != s.started {
                s = (started, now)
                return true
            }
            guard let at = s.at else { return false }
            return now - at < quietSeconds
        }
    }
}
