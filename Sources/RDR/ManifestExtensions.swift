import Foundation

/// Sections of the manifest that belong to layers above the engine (the Active Upgrade
/// model). The engine stores them verbatim and never interprets them; every rewrite keeps
/// every key it does not own.
extension RDRSystem {
    /// The JSON of top-level key `key`, or nil when absent.
    public func extensionSection(_ key: String) throws(RDRError) -> Data? {
        let object = try manifestObject()
        guard let value = object[key] else { return nil }
        do { return try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) } catch {
            throw RDRError(.corrupt, "manifest \(manifestPath): section '\(key)' cannot be read: \(error.localizedDescription)")
        }
    }

    /// Replaces top-level key `key` (never one the engine owns) atomically and durably.
    public func writeExtensionSection(_ key: String, _ json: Data) throws(RDRError) {
        guard !["format", "primary", "disks"].contains(key) else { throw RDRError(.invalidArgument, "'\(key)' belongs to the engine") }
        var object = try manifestObject()
        do { object[key] = try JSONSerialization.jsonObject(with: json, options: [.fragmentsAllowed]) } catch {
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
        guard var disks = object["disks"] as? [[String: Any]] else { throw RDRError(.corrupt, "manifest \(manifestPath) has no disks") }
        for i in disks.indices {
            if let name = disks[i]["name"] as? String, let role = roles[name], disks[i]["role"] as? String != DiskRole.mandatory.rawValue {
                disks[i]["role"] = role.rawValue
            }
        }
        object["disks"] = disks
        try writeManifestObject(object)
        return try RDRSystem.open(at: path, sys: sys)
    }

    private func manifestObject() throws(RDRError) -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: manifestPath),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw RDRError(.corrupt, "manifest \(manifestPath) cannot be read as a JSON object")
        }
        return object
    }

    private func writeManifestObject(_ object: [String: Any]) throws(RDRError) {
        let data: Data
        do { data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) } catch {
            throw RDRError(.io, "manifest cannot be encoded: \(error.localizedDescription)")
        }
        try io { () throws(Errno) in try Directory.writeAtomically(Array(data) + [0x0A], to: manifestPath, sys: sys) }
    }
}

extension VirtualDisk {
    /// Fixes a resync's direction and copy set durably without copying anything: from here a
    /// crash, a `resync(from:)` in this process or a background worker all continue the same
    /// resync. Returns false when there is nothing to copy (an in-sync duplex disk).
    @discardableResult
    public func startResync(from source: Enclosure) throws(RDRError) -> Bool {
        try beginResync(from: source) != nil
    }
}
