import Dispatch
import Glibc
import RDR
import RDRArguments
import Synchronization

/// Durations and rates as the commands print them.
enum Terminal {
    static func duration(_ seconds: Double?) -> String {
        guard let s = seconds, s.isFinite, s >= 0 else { return "--:--" }
        let t = Int(s.rounded())
        return t >= 3600
            ? Printf.format("%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : Printf.format("%d:%02d", t / 60, t % 60)
    }

    /// Sleeps the whole interval (nanosleep resumed after a signal).
    static func sleep(seconds: Double) {
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    static func rate(_ bytesPerSecond: Double) -> String {
        Printf.format("%.1f", bytesPerSecond / 1_048_576) + " MiB/s"
    }
}

/// Shows a resync's progress: a bar redrawn in place on a terminal, plain lines (at most one a
/// second) otherwise, so logs and pipes stay readable.
final class ProgressDisplay: @unchecked Sendable {
    // @unchecked: `lastLine` and `drewBar` change only under `lock` (resync workers report
    // from several threads).
    private let label: String
    private let out: OutputStream
    private var lastLine = 0.0
    private let lock = Mutex(())
    private var drewBar = false

    init(label: String, out: OutputStream) {
        self.label = label
        self.out = out
    }

    func show(_ p: ResyncProgress) {
        lock.withLock { _ in draw(p) }
    }

    private func draw(_ p: ResyncProgress) {
        let text =
            "\(p.percent)%  \(ByteSize.format(p.bytesDone))/\(ByteSize.format(p.bytesTotal))  \(Terminal.rate(p.rateBytesPerSecond))  ETA \(Terminal.duration(p.etaSeconds))"
        if out.isTerminal {
            let width = 30
            let filled = min(width, p.percent * width / 100)
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            out.write("\r\u{1B}[2K\(label) [\(bar)] \(text)")
            drewBar = true
            if p.state != .running {
                out.write("\n")
                drewBar = false
            }
        } else {
            let now = Monotonic.now()
            if p.state != .running || now - lastLine >= 1 {
                out.line("\(label): \(text)\(p.state == .running ? "" : " (\(p.state))")")
                lastLine = now
            }
        }
    }

    func end() {
        lock.withLock { _ in
            if drewBar {
                out.write("\n")
                drewBar = false
            }
        }
    }
}

/// Turns SIGINT, SIGTERM and SIGHUP (a closed terminal) into a cancellation that resync
/// workers and workloads observe, so a stopped command checkpoints what it did and exits 130
/// instead of dying mid-write. Installed by main for the commands that observe it.
enum Interrupts {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    static func cancelling(_ flag: CancellationFlag) {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { flag.cancel() }
            source.resume()
            sources.append(source)
        }
    }
}
