import Foundation
import RDR

/// One activity log entry. Entries nest through `parent` (the guide's "Execute custom actions"
/// node with one child per action); `update` records change an entry's severity and detail
/// later (Pending → Success), so the file stays append-only.
public struct LogEntry: Codable, Sendable, Equatable {
    public var id: Int
    public var parent: Int?
    public var time: Date
    public var severity: Severity
    public var message: String
    public var detail: String?
}

struct LogRecord: Codable {
    var entry: LogEntry?
    var update: Int?
    var severity: Severity?
    var detail: String?
}

/// The activity log: JSON lines appended to `activity.log.jsonl` and fsynced, so it survives
/// restarts and crashes (a torn last line is skipped on read).
public final class ActivityLog: @unchecked Sendable {
    public let path: String
    private var nextID: Int
    private let lock = NSLock()

    public init(systemPath: String) {
        path = systemPath + "/activity.log.jsonl"
        nextID = (Self.read(path).map(\.id).max() ?? 0) + 1
    }

    @discardableResult
    public func add(_ severity: Severity, _ message: String, detail: String? = nil, parent: Int? = nil) -> Int {
        lock.lock()
        defer { lock.unlock() }
        let entry = LogEntry(id: nextID, parent: parent, time: Date(), severity: severity, message: message, detail: detail)
        nextID += 1
        append(LogRecord(entry: entry))
        return entry.id
    }

    public func update(_ id: Int, _ severity: Severity, detail: String? = nil) {
        lock.lock()
        defer { lock.unlock() }
        append(LogRecord(update: id, severity: severity, detail: detail))
    }

    private func append(_ record: LogRecord) {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        guard var data = try? encoder.encode(record) else { return }
        data.append(0x0A)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
    }

    /// All entries with updates applied, in order.
    public static func read(_ path: String) -> [LogEntry] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        var entries: [LogEntry] = []
        var index: [Int: Int] = [:]
        for line in data.split(separator: 0x0A) {
            guard let r = try? decoder.decode(LogRecord.self, from: Data(line)) else { continue }
            if let e = r.entry {
                index[e.id] = entries.count
                entries.append(e)
            } else if let id = r.update, let i = index[id] {
                if let s = r.severity { entries[i].severity = s }
                if let d = r.detail { entries[i].detail = d }
            }
        }
        return entries
    }

    public var entries: [LogEntry] { Self.read(path) }
}

/// Text, JSON and XML views of the log.
public enum LogFormat {
    static func stamp(_ d: Date) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: d)
    }

    /// Entries that pass the filter, with their ancestors kept for context.
    public static func filtered(_ entries: [LogEntry], severity: Severity?) -> [LogEntry] {
        guard let severity else { return entries }
        let byID = Dictionary(entries.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var keep = Set<Int>()
        for e in entries where e.severity == severity {
            var cur: LogEntry? = e
            while let c = cur, keep.insert(c.id).inserted { cur = c.parent.flatMap { byID[$0] } }
        }
        return entries.filter { keep.contains($0.id) }
    }

    public static func text(_ entries: [LogEntry]) -> String {
        var depth: [Int: Int] = [:]
        var out = ""
        for e in entries {
            let d = e.parent.flatMap { depth[$0] }.map { $0 + 1 } ?? 0
            depth[e.id] = d
            out += "\(stamp(e.time))  \(e.severity.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)) \(String(repeating: "  ", count: d))\(e.message)\n"
            if let detail = e.detail, !detail.isEmpty {
                for line in detail.split(separator: "\n", omittingEmptySubsequences: false) {
                    out += String(repeating: " ", count: 33) + String(repeating: "  ", count: d) + "| " + line + "\n"
                }
            }
        }
        return out
    }

    public static func json(_ entries: [LogEntry]) -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(entries)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }

    /// Nested `<entry>` elements under `<activityLog>`.
    public static func xml(_ entries: [LogEntry]) -> String {
        var children: [Int?: [LogEntry]] = [:]
        let ids = Set(entries.map(\.id))
        for e in entries { children[e.parent.flatMap { ids.contains($0) ? $0 : nil }, default: []].append(e) }
        func render(_ e: LogEntry, _ indent: String) -> String {
            var s = "\(indent)<entry id=\"\(e.id)\" time=\"\(UTCTimestamp.string(epochSeconds: Int(e.time.timeIntervalSince1970)))\" severity=\"\(e.severity.rawValue)\">\n"
            s += "\(indent)  <message>\(escape(e.message))</message>\n"
            if let d = e.detail { s += "\(indent)  <detail>\(escape(d))</detail>\n" }
            for c in children[e.id] ?? [] { s += render(c, indent + "  ") }
            return s + "\(indent)</entry>\n"
        }
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<activityLog>\n"
        for e in children[nil] ?? [] { out += render(e, "  ") }
        return out + "</activityLog>\n"
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(u)
            default:
                // XML 1.0 forbids most control characters even as references: show them as U+XXXX.
                if u.value < 0x20 || (0xFFFE...0xFFFF).contains(u.value) { out += String(format: "U+%04X", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out
    }
}
