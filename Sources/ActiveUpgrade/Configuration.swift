import FoundationEssentials
import Glibc
import RDR

/// A configuration (`.Config`, JSON): title, comments, disk selection, child configurations,
/// controlled services, custom actions and the event-log backup. Parsing is strict: an unknown
/// key, a wrong type or a bad value is an error naming the file, the key and what is expected.
public struct Configuration: Sendable, Equatable {
    public enum ControlType: String, Codable, Sendable, CaseIterable {
        case StartApplication, StopApplication, ReadinessCheck, Advanced, Backup
    }

    public enum Timing: String, Codable, Sendable, CaseIterable {
        case Early, Default, Late
        var order: Int { self == .Early ? 0 : self == .Default ? 1 : 2 }
    }

    public struct CustomAction: Sendable, Equatable {
        public var file: String
        public var arguments: [String]
        public var controlType: ControlType
        public var timing: Timing
        public var timeoutSeconds: Double
        /// The configuration file that contributed this action.
        public var source: String
    }

    public struct LogBackup: Sendable, Equatable {
        /// nil when the file names none: a Warning, and event logs are not backed up (3-10).
        public var stagingDirectory: String?
        public var logs: [String]
        public var source: String
    }

    public var path: String
    public var title: String?
    public var comments: String?
    /// Disk name → role (`system` or `data`), from this file only (children's are ignored).
    public var disks: [String: DiskRole] = [:]
    /// Service name → file it came from.
    public var services: [(name: String, source: String)] = []
    public var customActions: [CustomAction] = []
    public var logBackup: LogBackup?
    /// What the next command does with a request interrupted by a crash (nil: the default).
    public var autoRecover: AutoRecoverPolicy?
    /// How long a split may take before it breaks (the guide's 5 minutes by default).
    public var splitTimeoutSeconds: Double?
    /// Every file read, parent first.
    public var files: [String] = []

    public static let defaultSplitTimeout = 300.0
    public static let maxSeconds = 86_400.0
    /// A configuration file larger than this is not read (they are a few KiB).
    public static let maxFileBytes = 16 << 20

    public static func == (a: Configuration, b: Configuration) -> Bool {
        a.path == b.path && a.title == b.title && a.comments == b.comments && a.disks == b.disks
            && a.services.map(\.name) == b.services.map(\.name) && a.customActions == b.customActions
            && a.logBackup == b.logBackup
            && a.autoRecover == b.autoRecover && a.splitTimeoutSeconds == b.splitTimeoutSeconds
    }

    static let keys: Set<String> = [
        "title", "comments", "disks", "include", "services", "customActions", "logBackup", "autoRecover",
        "splitTimeoutSeconds",
    ]
    static let actionKeys: Set<String> = ["file", "arguments", "controlType", "timing", "timeoutSeconds"]

    /// Loads `path` and its children (same directory, recursively). Cycles are refused with the
    /// cycle named; the parent wins conflicts; children's disk selections are ignored.
    /// Relative custom action files resolve against `baseDirectory` (default: the file's own
    /// directory; a staged copy passes the directory the user's file came from).
    public static func load(
        _ path: String, baseDirectory: String? = nil,
        sys: any SystemCalls = LinuxSystemCalls()
    ) throws(RDRError) -> Configuration {
        try load(path, chain: [], base: baseDirectory, sys: sys)
    }

    private static func load(
        _ path: String, chain: [String], base: String?,
        sys: any SystemCalls
    ) throws(RDRError) -> Configuration {
        let name = PathName.lastComponent(path)
        if let i = chain.firstIndex(of: name) {
            throw RDRError(
                .corrupt,
                "configuration \(path): include cycle \((chain[i...] + [name]).joined(separator: " → ")); remove one of these includes"
            )
        }
        guard name.hasSuffix(".Config") else {
            throw RDRError(.invalidArgument, "configuration \(path): the file name must end in .Config")
        }
        guard let bytes = try? readFile(path, sys: sys) else {
            throw RDRError(.invalidArgument, "configuration \(path) does not exist or cannot be read")
        }
        return try parse(Data(bytes), path: path, chain: chain, base: base, sys: sys)
    }

    /// The file's bytes, following a link (the user's own file may be one).
    private static func readFile(_ path: String, sys: any SystemCalls) throws(Errno) -> [UInt8] {
        let fd = try FileDescriptor.openRaw(path, flags: O_RDONLY | O_CLOEXEC | O_NONBLOCK, mode: 0, sys: sys)
        defer { fd.close() }
        return try fd.readWholeFile(limit: maxFileBytes)
    }

    /// Parses configuration text as if it were the file `path` (includes are read from its directory).
    public static func parse(_ data: Data, path: String, baseDirectory: String? = nil) throws(RDRError) -> Configuration
    {
        try parse(data, path: path, chain: [], base: baseDirectory, sys: LinuxSystemCalls())
    }

    private static func parse(
        _ data: Data, path: String, chain: [String], base: String?,
        sys: any SystemCalls
    ) throws(RDRError) -> Configuration {
        let value: JSONValue
        do { value = try JSONValue(parsing: Array(data)) } catch {
            throw RDRError(.corrupt, "configuration \(path): not valid JSON (\(Self.describe(error)))")
        }
        guard let object = value.objectValue else {
            throw RDRError(.corrupt, "configuration \(path): expected a JSON object at the top level")
        }
        let p = Fields(path: path, base: base ?? PathName.directory(of: path))
        for key in object.keys where !keys.contains(key) {
            throw p.bad(key, "is not a configuration key; expected one of \(keys.sorted().joined(separator: ", "))")
        }
        var config = Configuration(path: path)
        config.files = [path]
        config.title = try p.string("title", in: object)
        config.comments = try p.string("comments", in: object)
        config.disks = try p.disks(object["disks"])
        if let s = object["services"] {
            config.services = try p.strings(s, "services", "must be an array of service names").map { ($0, path) }
        }
        if let a = object["customActions"] {
            guard let list = a.arrayValue else { throw p.bad("customActions", "must be an array of objects") }
            config.customActions = try list.enumerated().map { (i, item) throws(RDRError) in
                try p.action(item, index: i)
            }
        }
        if let l = object["logBackup"] { config.logBackup = try p.logBackup(l) }
        if let r = try p.string("autoRecover", in: object) {
            guard let policy = AutoRecoverPolicy(rawValue: r) else {
                throw p.bad("autoRecover", "must be \"abort\", \"retry\" or \"none\", not '\(r)'")
            }
            config.autoRecover = policy
        }
        if let t = object["splitTimeoutSeconds"] {
            config.splitTimeoutSeconds = try p.seconds(t, "splitTimeoutSeconds")
        }
        if let inc = object["include"] {
            let dir = PathName.directory(of: path)
            for child in try p.strings(inc, "include", "must be an array of .Config file names in the same directory") {
                guard !child.contains("/") else {
                    throw p.bad("include", "names files in the same directory only, not '\(child)'")
                }
                let name = PathName.lastComponent(path)
                config.absorb(try load(PathName.appending(child, to: dir), chain: chain + [name], base: base, sys: sys))
            }
        }
        return config
    }

    /// Why JSON text did not parse, in a few words (the decoder's own description is a dump).
    private static func describe(_ error: Error) -> String {
        guard case DecodingError.dataCorrupted(let context) = error else { return "\(error)" }
        return context.underlyingError.map { "\($0)" } ?? context.debugDescription
    }

    /// Adds a child's items; the parent's win (its title, comments, backup, disks).
    mutating func absorb(_ child: Configuration) {
        files += child.files.filter { !files.contains($0) }
        title = title ?? child.title
        comments = comments ?? child.comments
        for s in child.services where !services.contains(where: { $0.name == s.name }) { services.append(s) }
        for a in child.customActions
        where !customActions.contains(where: { $0.file == a.file && $0.controlType == a.controlType }) {
            customActions.append(a)
        }
        logBackup = logBackup ?? child.logBackup
        autoRecover = autoRecover ?? child.autoRecover
        splitTimeoutSeconds = splitTimeoutSeconds ?? child.splitTimeoutSeconds
    }

    /// Actions of `type`, in timing order (stable within a timing).
    public func actions(_ type: ControlType) -> [CustomAction] {
        customActions.enumerated().filter { $0.element.controlType == type }
            .sorted { ($0.element.timing.order, $0.offset) < ($1.element.timing.order, $1.offset) }.map(\.element)
    }

    public static let template = """
        {
          "title": "Upgrade",
          "comments": "What this upgrade installs and why.",
          "disks": { "boot": "system", "data": "data" },
          "include": [],
          "services": ["appdb", "webapp"],
          "customActions": [
            { "file": "/usr/bin/true", "arguments": "%ACTIVE_UPGRADE_SIDE% %ACTIVE_UPGRADE_REQUEST%", "controlType": "ReadinessCheck" }
          ],
          "logBackup": { "stagingDirectory": "/var/tmp/rdr-log-backup", "logs": [] }
        }

        """

    /// The effective configuration and where each item came from.
    public var summary: String {
        func from(_ f: String) -> String { "(from \(PathName.lastComponent(f)))" }
        var out = "Configuration \(path)\n"
        out += "  Title: \(title ?? "(none)")\n"
        if let c = comments { out += "  Comments: \(c)\n" }
        out += "  Files: \(files.map { PathName.lastComponent($0) }.joined(separator: ", "))\n"
        out += "  Disks:\(disks.isEmpty ? " (roles from the manifest)" : "")\n"
        for (d, r) in disks.sorted(by: { $0.key < $1.key }) { out += "    \(d): \(r) \(from(path))\n" }
        out += "  Services:\(services.isEmpty ? " (none)" : "")\n"
        for s in services { out += "    \(s.name) \(from(s.source))\n" }
        out += "  Custom actions:\(customActions.isEmpty ? " (none)" : "")\n"
        for a in customActions {
            out +=
                "    \(a.controlType.rawValue)\(a.controlType == .Advanced ? "/\(a.timing.rawValue)" : ""): \(a.file) \(a.arguments.joined(separator: " ")) \(from(a.source))\n"
        }
        if let b = logBackup {
            out +=
                "  Log backup: \(b.logs.count) file(s) to \(b.stagingDirectory ?? "(no directory given)") \(from(b.source))\n"
        }
        out += "  Auto-recovery: \(autoRecover?.rawValue ?? "default (abort before Commit, retry from Commit on)")\n"
        out += "  Split timeout: \(Seconds.text(splitTimeoutSeconds ?? Self.defaultSplitTimeout))\n"
        return out
    }
}
