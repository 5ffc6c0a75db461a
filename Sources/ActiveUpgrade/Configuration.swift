import Foundation
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
        public var stagingDirectory: String
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
    /// Every file read, parent first.
    public var files: [String] = []

    public static func == (a: Configuration, b: Configuration) -> Bool {
        a.path == b.path && a.title == b.title && a.comments == b.comments && a.disks == b.disks
            && a.services.map(\.name) == b.services.map(\.name) && a.customActions == b.customActions && a.logBackup == b.logBackup
    }

    static let keys: Set<String> = ["title", "comments", "disks", "include", "services", "customActions", "logBackup"]
    static let actionKeys: Set<String> = ["file", "arguments", "controlType", "timing", "timeoutSeconds"]

    /// Loads `path` and its children (same directory, recursively). Cycles are refused with the
    /// cycle named; the parent wins conflicts; children's disk selections are ignored.
    /// Relative custom action files resolve against `baseDirectory` (default: the file's own
    /// directory; a staged copy passes the directory the user's file came from).
    public static func load(_ path: String, baseDirectory: String? = nil) throws(RDRError) -> Configuration {
        try load(path, chain: [], base: baseDirectory)
    }

    private static func load(_ path: String, chain: [String], base: String?) throws(RDRError) -> Configuration {
        let name = (path as NSString).lastPathComponent
        if let i = chain.firstIndex(of: name) {
            throw RDRError(.corrupt, "configuration \(path): include cycle \((chain[i...] + [name]).joined(separator: " → ")); remove one of these includes")
        }
        guard name.hasSuffix(".Config") else {
            throw RDRError(.invalidArgument, "configuration \(path): the file name must end in .Config")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RDRError(.invalidArgument, "configuration \(path) does not exist or cannot be read")
        }
        return try parse(data, path: path, chain: chain, base: base)
    }

    /// Parses configuration text as if it were the file `path` (includes are read from its directory).
    public static func parse(_ data: Data, path: String, baseDirectory: String? = nil) throws(RDRError) -> Configuration {
        try parse(data, path: path, chain: [], base: baseDirectory)
    }

    private static func parse(_ data: Data, path: String, chain: [String], base: String?) throws(RDRError) -> Configuration {
        let name = (path as NSString).lastPathComponent
        let object: [String: Any]
        do {
            guard let o = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw RDRError(.corrupt, "configuration \(path): expected a JSON object at the top level")
            }
            object = o
        } catch let e as RDRError {
            throw e
        } catch {
            throw RDRError(.corrupt, "configuration \(path): not valid JSON (\(error.localizedDescription))")
        }
        func bad(_ key: String, _ expected: String) -> RDRError {
            RDRError(.corrupt, "configuration \(path): key '\(key)' \(expected)")
        }
        for key in object.keys where !keys.contains(key) {
            throw bad(key, "is not a configuration key; expected one of \(keys.sorted().joined(separator: ", "))")
        }
        func string(_ key: String, in o: [String: Any], prefix: String = "") throws(RDRError) -> String? {
            guard let v = o[key] else { return nil }
            guard let s = v as? String else { throw bad(prefix + key, "must be a string") }
            return s
        }
        var config = Configuration(path: path)
        config.files = [path]
        config.title = try string("title", in: object)
        config.comments = try string("comments", in: object)
        if let d = object["disks"] {
            guard let map = d as? [String: Any] else { throw bad("disks", "must be an object of disk name → \"system\" or \"data\"") }
            for (disk, role) in map {
                guard let r = role as? String, let parsed = DiskRole(rawValue: r), parsed != .mandatory else {
                    throw bad("disks.\(disk)", "must be \"system\" or \"data\"")
                }
                config.disks[disk] = parsed
            }
        }
        if let s = object["services"] {
            guard let list = s as? [Any], list.allSatisfy({ $0 is String }) else { throw bad("services", "must be an array of service names") }
            config.services = list.compactMap { $0 as? String }.map { ($0, path) }
        }
        if let a = object["customActions"] {
            guard let list = a as? [Any] else { throw bad("customActions", "must be an array of objects") }
            for (i, item) in list.enumerated() {
                let prefix = "customActions[\(i)]."
                guard let o = item as? [String: Any] else { throw bad("customActions[\(i)]", "must be an object") }
                for key in o.keys where !actionKeys.contains(key) {
                    throw bad(prefix + key, "is not a custom action key; expected one of \(actionKeys.sorted().joined(separator: ", "))")
                }
                guard let file = try string("file", in: o, prefix: prefix), !file.isEmpty else { throw bad(prefix + "file", "is required: the executable's path") }
                var arguments: [String] = []
                if let args = o["arguments"] {
                    if let s = args as? String { arguments = s.split(separator: " ").map(String.init) } else if let l = args as? [Any], l.allSatisfy({ $0 is String }) {
                        arguments = l.compactMap { $0 as? String }
                    } else { throw bad(prefix + "arguments", "must be a string or an array of strings") }
                }
                guard let ct = try string("controlType", in: o, prefix: prefix) else { throw bad(prefix + "controlType", "is required") }
                guard let control = ControlType(rawValue: ct) else {
                    throw bad(prefix + "controlType", "must be one of \(ControlType.allCases.map(\.rawValue).joined(separator: ", ")), not '\(ct)'")
                }
                var timing = Timing.Default
                if let t = try string("timing", in: o, prefix: prefix) {
                    guard let parsed = Timing(rawValue: t) else { throw bad(prefix + "timing", "must be Early, Default or Late, not '\(t)'") }
                    timing = parsed
                }
                var timeout = 300.0
                if let t = o["timeoutSeconds"] {
                    guard let n = t as? NSNumber, !(t is Bool), n.doubleValue > 0, n.doubleValue <= 86_400 else { throw bad(prefix + "timeoutSeconds", "must be a number of seconds from 0 to 86400") }
                    timeout = n.doubleValue
                }
                let dir = base ?? (path as NSString).deletingLastPathComponent
                let resolved = file.hasPrefix("/") ? file : (dir as NSString).appendingPathComponent(file)
                config.customActions.append(CustomAction(file: resolved, arguments: arguments, controlType: control, timing: timing, timeoutSeconds: timeout, source: path))
            }
        }
        if let l = object["logBackup"] {
            guard let o = l as? [String: Any] else { throw bad("logBackup", "must be an object with stagingDirectory and logs") }
            for key in o.keys where !["stagingDirectory", "logs"].contains(key) { throw bad("logBackup." + key, "is not a logBackup key; expected stagingDirectory, logs") }
            guard let dir = try string("stagingDirectory", in: o, prefix: "logBackup."), !dir.isEmpty else { throw bad("logBackup.stagingDirectory", "is required: a directory path") }
            guard let logs = o["logs"] as? [Any], logs.allSatisfy({ $0 is String }) else { throw bad("logBackup.logs", "must be an array of file paths") }
            config.logBackup = LogBackup(stagingDirectory: dir, logs: logs.compactMap { $0 as? String }, source: path)
        }
        if let inc = object["include"] {
            guard let list = inc as? [Any], list.allSatisfy({ $0 is String }) else { throw bad("include", "must be an array of .Config file names in the same directory") }
            let dir = (path as NSString).deletingLastPathComponent
            for child in list.compactMap({ $0 as? String }) {
                guard !child.contains("/") else { throw bad("include", "names files in the same directory only, not '\(child)'") }
                let c = try load((dir as NSString).appendingPathComponent(child), chain: chain + [name], base: base)
                config.absorb(c)
            }
        }
        return config
    }

    /// Adds a child's items; the parent's win (its title, comments, backup, disks).
    mutating func absorb(_ child: Configuration) {
        files += child.files.filter { !files.contains($0) }
        title = title ?? child.title
        comments = comments ?? child.comments
        for s in child.services where !services.contains(where: { $0.name == s.name }) { services.append(s) }
        for a in child.customActions where !customActions.contains(where: { $0.file == a.file && $0.controlType == a.controlType }) {
            customActions.append(a)
        }
        logBackup = logBackup ?? child.logBackup
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
        func from(_ f: String) -> String { "(from \((f as NSString).lastPathComponent))" }
        var out = "Configuration \(path)\n"
        out += "  Title: \(title ?? "(none)")\n"
        if let c = comments { out += "  Comments: \(c)\n" }
        out += "  Files: \(files.map { ($0 as NSString).lastPathComponent }.joined(separator: ", "))\n"
        out += "  Disks:\(disks.isEmpty ? " (roles from the manifest)" : "")\n"
        for (d, r) in disks.sorted(by: { $0.key < $1.key }) { out += "    \(d): \(r) \(from(path))\n" }
        out += "  Services:\(services.isEmpty ? " (none)" : "")\n"
        for s in services { out += "    \(s.name) \(from(s.source))\n" }
        out += "  Custom actions:\(customActions.isEmpty ? " (none)" : "")\n"
        for a in customActions {
            out += "    \(a.controlType.rawValue)\(a.controlType == .Advanced ? "/\(a.timing.rawValue)" : ""): \(a.file) \(a.arguments.joined(separator: " ")) \(from(a.source))\n"
        }
        if let b = logBackup { out += "  Log backup: \(b.logs.count) file(s) to \(b.stagingDirectory) \(from(b.source))\n" }
        return out
    }
}
