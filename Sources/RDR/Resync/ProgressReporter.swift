import FoundationEssentials
import Glibc

/// Builds a running resync's progress on the thread that drives it, and hands each moment to
/// the observer and to other processes (`ProgressPublisher`).
final class ProgressReporter {
    private let disk: VirtualDisk
    private let start: VirtualDisk.ResyncStart
    private let observer: (@Sendable (ResyncProgress) -> Void)?
    private let publisher: ProgressPublisher
    private let clock: any SystemClock
    private let begin: Double
    private var window = RateWindow()

    init(disk: VirtualDisk, start: VirtualDisk.ResyncStart, observer: (@Sendable (ResyncProgress) -> Void)?) {
        self.disk = disk
        self.start = start
        self.observer = observer
        publisher = ProgressPublisher(path: disk.system.progressPath(disk: disk.name), sys: disk.sys)
        clock = disk.sys.clock
        begin = clock.monotonicSeconds()
    }

    var elapsed: Double { clock.monotonicSeconds() - begin }

    /// Publishes and observes the progress after this run moved `done` bytes; returns it.
    @discardableResult
    func report(_ state: ResyncProgress.State, done: Int64) -> ResyncProgress {
        let now = clock.monotonicSeconds()
        let d = start.doneBefore + done
        window.add(time: now, bytes: d)
        let rate = window.rate
        let remaining = max(0, start.planBytes - d)
        let p = ResyncProgress(
            disk: disk.name, pid: getpid(), state: state, source: start.source.rawValue,
            target: start.source.other.rawValue, bytesTotal: start.planBytes, bytesDone: min(d, start.planBytes),
            percent: ResyncProgress.percent(done: d, total: start.planBytes, finished: state == .finished),
            rateBytesPerSecond: rate, etaSeconds: state == .finished ? 0 : (rate > 0 ? Double(remaining) / rate : nil),
            elapsedSeconds: now - begin, updatedMillis: clock.wallMillis())
        publisher.publish(p)
        observer?(p)
        return p
    }
}

/// Writes the progress record other processes read (`rdr status`): temp file + rename, so a
/// reader sees a whole record or the previous one. Display only, so it is not fsynced.
/// Failures are ignored: `status` copes with a missing or stale record.
struct ProgressPublisher {
    let path: String
    let sys: any SystemCalls
    /// A record is a few hundred bytes; a larger file is not one.
    static let maxBytes = 64 << 10

    func publish(_ p: ResyncProgress) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(p) else { return }
        try? Directory.writeAtomically(Array(data), to: path, durable: false, sys: sys)
    }

    static func read(_ path: String, sys: any SystemCalls) -> ResyncProgress? {
        guard let bytes = try? FileDescriptor.readFile(path, limit: maxBytes, sys: sys) else { return nil }
        return try? JSONDecoder().decode(ResyncProgress.self, from: Data(bytes))
    }
}
