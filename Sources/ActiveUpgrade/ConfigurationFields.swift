import FoundationEssentials
import Glibc
import RDR

extension Configuration {
    /// Reads one configuration file's values strictly: each refusal names the file, the key and
    /// what is expected. Relative paths resolve against `base`.
    struct Fields {
        let path: String
        let base: String

        func bad(_ key: String, _ expected: String) -> RDRError {
            RDRError(.corrupt, "configuration \(path): key '\(key)' \(expected)")
        }

        /// A string without NUL (a C string, an argv entry or a path cannot carry one).
        func string(_ key: String, in o: [String: JSONValue], prefix: String = "") throws(RDRError) -> String? {
            guard let v = o[key] else { return nil }
            guard let s = v.stringValue else { throw bad(prefix + key, "must be a string") }
            guard !s.unicodeScalars.contains("\0") else { throw bad(prefix + key, "contains a NUL character") }
            return s
        }

        func strings(_ v: JSONValue, _ key: String, _ expected: String) throws(RDRError) -> [String] {
            guard let list = v.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else { throw bad(key, expected) }
            let out = list.compactMap(\.stringValue)
            guard !out.contains(where: { $0.unicodeScalars.contains("\0") }) else {
                throw bad(key, "contains a NUL character")
            }
            return out
        }

        func seconds(_ v: JSONValue, _ key: String) throws(RDRError) -> Double {
            guard let n = v.numberValue, n > 0, n <= Configuration.maxSeconds else {
                throw bad(
                    key, "must be a number of seconds greater than 0 and at most \(Int(Configuration.maxSeconds))")
            }
            return n
        }

        func resolve(_ file: String) -> String { file.hasPrefix("/") ? file : PathName.appending(file, to: base) }

        func disks(_ v: JSONValue?) throws(RDRError) -> [String: DiskRole] {
            guard let v else { return [:] }
            guard let map = v.objectValue else {
                throw bad("disks", "must be an object of disk name → \"system\" or \"data\"")
            }
            var out: [String: DiskRole] = [:]
            for (disk, role) in map {
                guard let r = role.stringValue, let parsed = DiskRole(rawValue: r), parsed != .mandatory else {
                    throw bad("disks.\(disk)", "must be \"system\" or \"data\"")
                }
                out[disk] = parsed
            }
            return out
        }

        func action(_ item: JSONValue, index i: Int) throws(RDRError) -> CustomAction {
            let prefix = "customActions[\(i)]."
            guard let o = item.objectValue else { throw bad("customActions[\(i)]", "must be an object") }
            for key in o.keys where !actionKeys.contains(key) {
                throw bad(
                    prefix + key,
                    "is not a custom action key; expected one of \(actionKeys.sorted().joined(separator: ", "))")
            }
            guard let file = try string("file", in: o, prefix: prefix), !file.isEmpty else {
                throw bad(prefix + "file", "is required: the executable's path")
            }
            guard let ct = try string("controlType", in: o, prefix: prefix) else {
                throw bad(prefix + "controlType", "is required")
            }
            guard let control = ControlType(rawValue: ct) else {
                throw bad(
                    prefix + "controlType",
                    "must be one of \(ControlType.allCases.map(\.rawValue).joined(separator: ", ")), not '\(ct)'")
            }
            var timing = Timing.Default
            if let t = try string("timing", in: o, prefix: prefix) {
                guard let parsed = Timing(rawValue: t) else {
                    throw bad(prefix + "timing", "must be Early, Default or Late, not '\(t)'")
                }
                timing = parsed
            }
            let timeout =
                try o["timeoutSeconds"].map { (t) throws(RDRError) in try seconds(t, prefix + "timeoutSeconds") } ?? 300
            return CustomAction(
                file: resolve(file), arguments: try arguments(o["arguments"], prefix + "arguments"),
                controlType: control,
                timing: timing, timeoutSeconds: timeout, source: path)
        }

        /// An array is taken as it is; a string is split with shell-like quoting.
        func arguments(_ v: JSONValue?, _ key: String) throws(RDRError) -> [String] {
            guard let v else { return [] }
            if let s = v.stringValue {
                do { return try ArgumentSplitter.split(s) } catch { throw bad(key, error.message) }
            }
            return try strings(v, key, "must be a string or an array of strings")
        }

        func logBackup(_ v: JSONValue) throws(RDRError) -> LogBackup {
            guard let o = v.objectValue else {
                throw bad("logBackup", "must be an object with stagingDirectory and logs")
            }
            for key in o.keys where !["stagingDirectory", "logs"].contains(key) {
                throw bad("logBackup." + key, "is not a logBackup key; expected stagingDirectory, logs")
            }
            let dir = try string("stagingDirectory", in: o, prefix: "logBackup.")
            let logs =
                try o["logs"].map { (l) throws(RDRError) in
                    try strings(l, "logBackup.logs", "must be an array of file paths")
                } ?? []
            return LogBackup(
                stagingDirectory: dir.flatMap { $0.isEmpty ? nil : resolve($0) }, logs: logs.map(resolve), source: path)
        }
    }
}
