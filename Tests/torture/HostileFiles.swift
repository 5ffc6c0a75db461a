import Foundation
import RDR

/// Hostile moves on the system's files (from the hardening work): a manifest edited so a member
/// names a file that is not its own, and member images swapped or replaced. The oracle: every
/// changing command is refused with 65 and no file changes; the edit is then undone.
extension TortureRun {
    /// Every non-hidden file of the system with its bytes (member images, metadata, manifest).
    /// Temporary files a killed process left (`NAME.<pid>.tmp`, `<metadata>.new`) are not part of
    /// it: the next command's lock sweeps them away before it refuses anything, as it must.
    func snapshot() -> [String: Data] {
        var out: [String: Data] = [:]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: rdr.system)) ?? []
        for name in names where !name.hasPrefix(".") && !name.hasSuffix(".tmp") && !name.hasSuffix(".new") {
            if let d = FileManager.default.contents(atPath: rdr.system + "/" + name) { out[name] = d }
        }
        return out
    }

    func hostileFileMove() {
        tally.hostileFiles += 1
        if let problem = chance(50) ? hostileManifestEdit() : swapOrReplaceImages() { fail(problem) }
    }

    private func hostileManifestEdit() -> String? {
        let manifestPath = rdr.system + "/rdr.json"
        guard let original = FileManager.default.contents(atPath: manifestPath),
            var object = (try? JSONSerialization.jsonObject(with: original)) as? [String: Any],
            var disksJSON = object["disks"] as? [[String: Any]]
        else { return "cannot read the manifest" }
        let d = Int(rng.next() % UInt64(disksJSON.count))
        var members = disksJSON[d]["members"] as? [[String: Any]] ?? []
        let m = Int(rng.next() % UInt64(max(1, members.count)))
        let other = diskNames[(d + 1) % diskNames.count]
        let key = pick(["image", "metadata"])
        let value = pick([
            "\(other)-10.img", "\(other)-11.rdrmeta", "\(diskNames[d])-\([11, 10][m]).img", "rdr.json", ".rdr.lock",
            "session.json", "../outside.img", "/tmp/outside.img", "", "activity.log.jsonl",
        ])
        members[m][key] = value
        disksJSON[d]["members"] = members
        object["disks"] = disksJSON
        guard let edited = try? JSONSerialization.data(withJSONObject: object) else {
            return "cannot write the manifest"
        }
        try? edited.write(to: URL(fileURLWithPath: manifestPath))
        defer { try? original.write(to: URL(fileURLWithPath: manifestPath)) }
        return expectRefused(what: "manifest edit \(diskNames[d]) member \(m) \(key)=\(value)")
    }

    private func swapOrReplaceImages() -> String? {
        let a = "\(rdr.system)/\(pick(diskNames))-\(pick([10, 11])).img"
        let kind = pick(["within", "between", "replace"])
        let b: String
        switch kind {
        case "within":
            b =
                a.hasSuffix("-10.img")
                ? a.replacingOccurrences(of: "-10.img", with: "-11.img")
                : a.replacingOccurrences(of: "-11.img", with: "-10.img")
        case "between":
            b =
                a.contains("/boot-")
                ? a.replacingOccurrences(of: "/boot-", with: "/data-")
                : a.replacingOccurrences(of: "/data-", with: "/boot-")
        default: b = a + ".saved"
        }
        let fm = FileManager.default
        func swap() {
            try? fm.moveItem(atPath: a, toPath: a + ".swap")
            try? fm.moveItem(atPath: b, toPath: a)
            try? fm.moveItem(atPath: a + ".swap", toPath: b)
        }
        if kind == "replace" {
            try? fm.moveItem(atPath: a, toPath: b)
            try? fm.copyItem(atPath: b, toPath: a)  // same bytes, another file: a restore from a backup
        } else {
            swap()
        }
        defer {
            if kind == "replace" {
                try? fm.removeItem(atPath: a)
                try? fm.moveItem(atPath: b, toPath: a)
            } else {
                swap()
            }
        }
        let disk = String(a.split(separator: "/").last?.split(separator: "-").first ?? "boot")
        let (_, out) = rdr.run(["status", "--json", disk])
        guard out.contains("\"status\":\"Error\"") else { return "\(kind) swap of \(a): status does not say Error" }
        // (--full is left out here: it is the way out, and rebuilds from the member the user names.)
        return expectRefused(what: "\(kind) swap of \(a)", disks: [disk], full: false)
    }

    /// Runs a random changing command, which must be refused with 65 and change no file.
    private func expectRefused(what: String, disks names: [String] = diskNames, full: Bool = true) -> String? {
        let before = snapshot()
        let disk = pick(names)
        let side = pick(["production", "upgrade"])
        var commands = [
            ["write", disk, "--side", side, "--offset", "0", "--pattern", "1", "--length", "4096"],
            ["disk", "resync", disk, "--from", pick(["10", "11"])],
            ["workload", disk, "--side", side, "--bytes", "64K"],
        ]
        if full { commands.append(["disk", "resync", disk, "--from", pick(["10", "11"]), "--full", "--force"]) }
        let args = pick(commands)
        let (status, _) = rdr.run(args)
        if status != 65 {
            return "\(what): 'rdr \(args.joined(separator: " "))' exited \(status), must be refused with 65"
        }
        let after = snapshot()
        if after != before {
            let changed = Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }.sorted()
            return "\(what): 'rdr \(args.joined(separator: " "))' changed \(changed.joined(separator: ", "))"
        }
        return nil
    }
}
