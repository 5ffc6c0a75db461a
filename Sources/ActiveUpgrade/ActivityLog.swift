import FoundationEssentials
import Glibc
import RDR
import Synchronization

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
/// restarts and crashes (a torn last line, or any line that is not a record, is skipped on read
/// and counted). Every file operation goes through the system's `SystemCalls`.
///
/// A failed append is never dropped silently: the log keeps the first failure until
/// `takeFailure()`. The upgrade controller fails the running step with it (the request goes
/// Broken naming the log file and the error; `retry` or `abort` once the cause is fixed), and
/// a failure after a request's final save becomes a notice the command prints. `add` still
/// returns a fresh id, so entries nested under one that was lost stay consistent.
public final class ActivityLog: Sendable {
    public let path: String
    let sys: any SystemCalls
    private struct State {
        var nextID: Int
        /// The file's size after our last append: when it grew otherwise, another process wrote
        /// entries, and the next id is found again (ids stay unique across processes).
        var knownSize: Int64
        var failure: Errno?
    }
    private let state: Mutex<State>
    /// No detail is stored longer than this (action output is already cut to its tail).
    static let maxDetail = 80 << 10
    /// A log larger than this is not read (its entries are reported as none).
    static let maxFileBytes = 1 << 30

    public init(systemPath: String, sys: any SystemCalls = LinuxSystemCalls()) {
        path = systemPath + "/activity.log.jsonl"
        self.sys = sys
        var status = FileStatus()
        let size = sys.stat(path: path, followLinks: true, &status) == 0 ? status.size : 0
        state = Mutex(State(nextID: (Self.read(path, sys: sys).map(\.id).max() ?? 0) + 1, knownSize: size))
    }

    @discardableResult
    public func add(_ severity: Severity, _ message: String, detail: String? = nil, parent: Int? = nil) -> Int {
        let time = Date(timeIntervalSince1970: Double(sys.clock.wallMillis()) / 1000)
        return append { s in
            let id = s.nextID
            s.nextID += 1
            let entry = LogEntry(
                id: id, parent: parent, time: time, severity: severity, message: message,
                detail: detail.map(Self.bounded))
            return (LogRecord(entry: entry), id)
        }
    }

    public func update(_ id: Int, _ severity: Severity, detail: String? = nil) {
        _ = append { _ in (LogRecord(update: id, severity: severity, detail: detail.map(Self.bounded)), id) }
    }

    /// The first append that failed since the last call, and forgets it.
    public func takeFailure() -> Errno? {
        state.withLock { s in
            defer { s.failure = nil }
            return s.failure
        }
    }

    static func bounded(_ detail: String) -> String {
        guard detail.utf8.count > maxDetail else { return detail }
        return "… (\(detail.utf8.count - maxDetail) bytes cut)\n"
            + String(decoding: detail.utf8.suffix(maxDetail), as: UTF8.self)
    }

    /// Makes the record (allocating its id even when the write fails) and appends it; a failure
    /// is kept for `takeFailure`.
    private func append(_ make: (inout State) -> (LogRecord, Int)) -> Int {
        state.withLock { s in
            var id: Int?
            do throws(Errno) {
                try write(&s) { st in
                    let (record, made) = make(&st)
                    id = made
                    return record
                }
            } catch {
                if s.failure == nil { s.failure = error }
            }
            return id ?? make(&s).1
        }
    }

    /// Appends one line under an exclusive flock on the file, so two processes (a request and
    /// an engine command logging an override) never interleave or reuse an id.
    private func write(_ s: inout State, _ make: (inout State) -> LogRecord) throws(Errno) {
        let fd = try FileDescriptor.openRaw(path, flags: O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, mode: 0o644, sys: sys)
        defer { fd.close() }
        let locked = sys.flock(fd.rawValue, LOCK_EX)
        if locked < 0 { throw Errno(code: -locked, operation: "lock", path: path) }
        defer { _ = sys.flock(fd.rawValue, LOCK_UN) }
        let size = try fd.status().size
        if size != s.knownSize { s.nextID = max(s.nextID, (Self.read(path, sys: sys).map(\.id).max() ?? 0) + 1) }
        let record = make(&s)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        guard let line = try? encoder.encode(record) else {
            throw Errno(code: EINVAL, operation: "encode a record for", path: path)
        }
        // A torn last line (a writer killed mid-line) must not swallow this record.
        let last = size > 0 ? try fd.readBytes(count: 1, at: size - 1) : [0x0A]
        try fd.append((last == [0x0A] ? [] : [0x0A]) + Array(line) + [0x0A])
        try fd.sync()
        s.knownSize = try fd.status().size
    }

    /// All entries with updates applied, in order.
    public static func read(_ path: String, sys: any SystemCalls = LinuxSystemCalls()) -> [LogEntry] {
        readCounting(path, sys: sys).entries
    }

    /// The entries, and how many lines were not log records (garbage, a torn last line).
    public static func readCounting(_ path: String, sys: any SystemCalls = LinuxSystemCalls()) -> (
        entries: [LogEntry], unreadable: Int
    ) {
        guard let bytes = try? FileDescriptor.readFile(path, limit: maxFileBytes, sys: sys) else { return ([], 0) }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        var entries: [LogEntry] = []
        var index: [Int: Int] = [:]
        var unreadable = 0
        for line in bytes.split(separator: 0x0A) {
            guard let r = try? decoder.decode(LogRecord.self, from: Data(line)), r.entry != nil || r.update != nil
            else {
                unreadable += 1
                continue
            }
            if let e = r.entry {
                index[e.id] = entries.count
                entries.append(e)
            } else if let id = r.update, let i = index[id] {
                if let s = r.severity { entries[i].severity = s }
                if let d = r.detail { entries[i].detail = d }
            }
        }
        return (entries, unreadable)
    }

    public var entries: [LogEntry] { Self.read(path, sys: sys) }
}

/// Text, JSON and XML views of the log.
public enum LogFormat {
    /// `yyyy-MM-dd HH:mm:ss` in UTC, whole seconds (from the C library: no time zone database).
    static func stamp(_ d: Date) -> String {
        let iso = UTCTimestamp.string(epochSeconds: Int(d.timeIntervalSince1970.rounded(.down)))
        return String(iso.dropLast().map { $0 == "T" ? " " : $0 })
    }

    /// `text` cut or padded with spaces to `width` characters (a column of the text view).
    static func column(_ text: String, _ width: Int) -> String {
        String((text + String(repeating: " ", count: width)).prefix(width))
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
            out +=
                "\(stamp(e.time))  \(column(e.severity.rawValue, 11)) \(String(repeating: "  ", count: d))\(printable(e.message))\n"
            if let detail = e.detail, !detail.isEmpty {
                for line in detail.split(separator: "\n", omittingEmptySubsequences: false) {
                    out +=
                        String(repeating: " ", count: 33) + String(repeating: "  ", count: d) + "| "
                        + printable(String(line)) + "\n"
                }
            }
        }
        return out
    }

    /// Text safe for a terminal: control characters (C0 but tab, DEL, C1) shown as `\xNN`,
    /// so no escape sequence or bell from an action's output reaches it raw.
    public static func printable(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            if (u.value < 0x20 && u != "\t") || (0x7F...0x9F).contains(u.value) {
                out += "\\x" + (u.value < 0x10 ? "0" : "") + String(u.value, radix: 16)
            } else {
                out.unicodeScalars.append(u)
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
            var s =
                "\(indent)<entry id=\"\(e.id)\" time=\"\(UTCTimestamp.string(epochSeconds: Int(e.time.timeIntervalSince1970)))\" severity=\"\(e.severity.rawValue)\">\n"
            s += "\(indent)  <message>\(escape(e.message))</message>\n"
            if let d = e.detail { s += "\(indent)  <detail>\(escape(d))</detail>\n" }
            for c in children[e.id] ?? [] { s += render(c, indent + "  ") }
            return s + "\(indent)</entry>\n"
        }
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<activityLog>\n"
        for e in children[nil] ?? [] { out += render(e, "  ") }
        return out + "</activityLog>\n"
    }

    /// `U+XXXX`: a scalar's code in at least four upper-case hex digits.
    static func unicodeName(_ u: Unicode.Scalar) -> String {
        let hex = String(u.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
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
                if u.value < 0x20 || (0xFFFE...0xFFFF).contains(u.value) {
                    out += unicodeName(u)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out
    }
}
