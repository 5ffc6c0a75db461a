import Foundation
import RDR
import RDRArguments

/// Printing to stdout/stderr, and what the terminal can do.
enum Terminal {
    static let stdoutIsTTY = isatty(STDOUT_FILENO) == 1

    static func out(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func err(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static func duration(_ seconds: Double?) -> String {
        guard let s = seconds, s.isFinite, s >= 0 else { return "--:--" }
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }

    static func rate(_ bytesPerSecond: Double) -> String {
        String(format: "%.1f MiB/s", bytesPerSecond / 1_048_576)
    }
}

/// Shows a resync's progress: a bar redrawn in place on a terminal, plain lines (at most one a
/// second) otherwise, so logs and pipes stay readable.
final class ProgressDisplay: @unchecked Sendable {
    private let label: String
    private var lastLine = 0.0
    private let lock = NSLock()
    private var drewBar = false

    init(label: String) { self.label = label }

    func show(_ p: ResyncProgress) {
        lock.lock()
        defer { lock.unlock() }
        let text = "\(p.percent)%  \(ByteSize.format(p.bytesDone))/\(ByteSize.format(p.bytesTotal))  \(Terminal.rate(p.rateBytesPerSecond))  ETA \(Terminal.duration(p.etaSeconds))"
        if Terminal.stdoutIsTTY {
            let width = 30
            let filled = min(width, p.percent * width / 100)
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            Terminal.write("\r\u{1B}[2K\(label) [\(bar)] \(text)")
            drewBar = true
            if p.state != "running" { Terminal.write("\n"); drewBar = false }
        } else {
            let now = Monotonic.now()
            if p.state != "running" || now - lastLine >= 1 {
                Terminal.out("\(label): \(text)\(p.state == "running" ? "" : " (\(p.state))")")
                lastLine = now
            }
        }
    }

    func end() {
        lock.lock()
        defer { lock.unlock() }
        if drewBar { Terminal.write("\n"); drewBar = false }
    }
}

/// Turns SIGINT, SIGTERM and SIGHUP (a closed terminal) into a cancellation that resync
/// workers and workloads observe, so a stopped command checkpoints what it did and exits 130
/// instead of dying mid-write.
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
