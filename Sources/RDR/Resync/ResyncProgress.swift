/// A moment of a resync, as shown on the terminal and published for other processes (the
/// progress record `rdr status` reads).
public struct ResyncProgress: Sendable, Codable, Equatable {
    /// Where the resync stands; the raw value is the text shown and published.
    public enum State: String, Sendable, Codable, CustomStringConvertible {
        case running, finished, failed, interrupted

        public var description: String { rawValue }
    }

    public var disk: String
    public var pid: Int32
    public var state: State
    public var source: UInt8
    public var target: UInt8
    public var bytesTotal: Int64
    public var bytesDone: Int64
    public var percent: Int
    public var rateBytesPerSecond: Double
    public var etaSeconds: Double?
    public var elapsedSeconds: Double
    public var updatedMillis: Int64

    /// Integer percent of bytes done over bytes planned, rounded to the nearest (truncating
    /// would read up to a whole point low), that reads 100 only when finished.
    public static func percent(done: Int64, total: Int64, finished: Bool) -> Int {
        if finished { return 100 }
        guard total > 0 else { return 0 }
        return min(99, Int((Double(max(0, done)) * 100 / Double(total)).rounded()))
    }
}

/// The copy rate over a short sliding window (3 s) of (time, bytes) samples: recent enough
/// that an ETA follows a throttle or a busy disk, long enough not to jump with each checkpoint.
struct RateWindow {
    private var samples: [(t: Double, bytes: Int64)] = []
    let window: Double

    init(window: Double = 3) { self.window = window }

    mutating func add(time: Double, bytes: Int64) {
        samples.append((time, bytes))
        while let first = samples.first, time - first.t > window { samples.removeFirst() }
    }

    var rate: Double {
        guard let first = samples.first, let last = samples.last else { return 0 }
        let dt = last.t - first.t
        return dt > 0.05 ? Double(last.bytes - first.bytes) / dt : 0
    }
}
