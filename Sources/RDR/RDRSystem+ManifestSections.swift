import FoundationEssentials

/// Sections of the manifest that belong to layers above the engine (the Active Upgrade
/// model). The engine stores them verbatim and never interprets them; every rewrite keeps
/// every key it does not own.
extension RDRSystem {
    /// The keys of the manifest the engine owns; no upper layer may write them.
    static let engineKeys: Set<String> = ["format", "primary", "disks"]

    /// The JSON of top-level key `key`, or nil when absent.
    public func extensionSection(_ key: String) throws(RDRError) -> Data? {
        guard let value = try manifestObject()[key] else { return nil }
        do { return Data(try value.encoded()) } catch {
            throw RDRError(.corrupt, "manifest \(manifestPath): section '\(key)' cannot be read: \(error)")
        }
    }

    /// Replaces top-level key `key` (never one the engine owns) atomically and durably.
    public func writeExtensionSection(_ key: String, _ json: Data) throws(RDRError) {
        guard !Self.engineKeys.contains(key) else { throw RDRError(.invalidArgument, "'\(key)' belongs to the engine") }
        var object = try manifestObject()
        do { object[key] = try JSONValue(parsing: Array(json)) } catch {
            throw RDRError(.invalidArgument, "section '\(key)' is not JSON")
        }
        try writeManifestObject(object)
    }

    /// Changes disk roles (a configuration's disk selection) and returns the reopened system.
    /// Mandatory disks never become data disks.
    public func settingRoles(_ roles: [String: DiskRole]) throws(RDRError) -> RDRSystem {
        for (name, role) in roles {
            let d = try manifest.disk(named: name)
            if d.role == .mandatory && role == .data {
                throw RDRError(.invalidState, "disk '\(name)' is a mandatory system disk and cannot be marked data")
            }
        }
        var object = try manifestObject()
        guard var disks = object["disks"]?.arrayValue else {
            throw RDRError(.corrupt, "manifest \(manifestPath) has no disks")
        }
        for i in disks.indices {
            guard var disk = disks[i].objectValue, let name = disk["name"]?.stringValue, let role = roles[name],
                disk["role"]?.stringValue != DiskRole.mandatory.rawValue
            else { continue }
            disk["role"] = .string(role.rawValue)
            disks[i] = .object(disk)
        }
        object["disks"] = .array(disks)
        try writeManifestObject(object)
        return try RDRSystem.open(at: path, sys: sys)
    }

    /// The manifest as a JSON object, read through the seam (a failed read is an I/O error,
    /// text that is not a JSON object is corruption).
    private func manifestObject() throws(RDRError) -> [String: JSONValue] {
        let bytes = try io { () throws(Errno) in
            try FileDescriptor.readFile(manifestPath, limit: Manifest.maxBytes, sys: sys)
        }
        guard let object = (try? JSONValue(parsing: bytes))?.objectValue else {
            throw RDRError(.corrupt, "manifest \(manifestPath) cannot be read as a JSON object")
        }
        return object
    }

    private func writeManifestObject(_ object: [String: JSONValue]) throws(RDRError) {
        let bytes: [UInt8]
        do { bytes = try JSONValue.object(object).encoded(pretty: true) } catch {
            throw RDRError(.io, "manifest cannot be encoded: \(error)")
        }
        try io { () throws(Errno) in try Directory.writeAtomically(bytes + [0x0A], to: manifestPath, sys: sys) }
    }
}
