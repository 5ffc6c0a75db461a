import Foundation

/// A moment of a resync, as shown on the terminal and published for other processes.
public struct ResyncProgress: Sendable, Codable, Equatable {
    public var disk: String
    public var pid: Int32
    public var state: String  // running, finished, failed, interrupted
    public var source: UInt8
    public var target: UInt8
    public var bytesTotal: Int64
    public var bytesDone: Int64
    public var percent: Int
    public var rateBytesPerSecond: Double
    public var rateLongBytesPerSecond: Double
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

/// Rate over a short and a long sliding window from (time, bytes) samples.
struct RateWindow {
    private var samples: [(t: Double, bytes: Int64)] = []
    let short: Double
    let long: Double

    init(short: Double = 3, long: Double = 30) {
        self.short = short
        self.long = long
    }

    mutating func add(time: Double, bytes: Int64) {
        samples.append((time, bytes))
        while let first = samples.first, time - first.t > long { samples.removeFirst() }
    }

    private func rate(over window: Double) -> Double {
        guard let last = samples.last else { return 0 }
        let first = samples.first { last.t - $0.t <= window } ?? last
        let dt = last.t - first.t
        return dt > 0.05 ? Double(last.bytes - first.bytes) / dt : 0
    }

    var shortRate: Double { rate(over: short) }
    var longRate: Double { rate(over: long) }
}

/// Writes the progress record other processes read (`rdr status`): temp file + rename, so a
/// reader sees a whole record or the previous one. Display only, so it is not fsynced.
/// Failures are ignored: `status` copes with a missing or stale record.
struct ProgressPublisher {
    let path: String
    let sys: any SystemCalls

    func publish(_ p: ResyncProgress) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(p) else { return }
        try? Directory.writeAtomically(Array(data), to: path, durable: false, sys: sys)
    }

    static func read(_ path: String) -> ResyncProgress? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(ResyncProgress.self, from: data)
    }
}
