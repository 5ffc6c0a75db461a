import Foundation
import RDR

/// rdr-torture: random upgrade sessions driven through the real `rdr` binary, killed with
/// SIGKILL at random moments, resumed, and checked against an oracle that computes every
/// member's expected bytes on its own (pattern writes, routing by mode and role, commit and
/// abort directions). Prints `N runs, N kills, N mismatches`; a failure prints its seed.
struct Options {
    var rdr = ""
    var runs = 20
    var seed: UInt64 = UInt64(Date().timeIntervalSince1970)
    var killPercent = 30
    var steps = 14
}

var options = Options()
var argv = Array(CommandLine.arguments.dropFirst())
while !argv.isEmpty {
    let flag = argv.removeFirst()
    let value = argv.isEmpty ? "" : argv.removeFirst()
    switch flag {
    case "--rdr": options.rdr = value
    case "--runs": options.runs = Int(value) ?? options.runs
    case "--seed": options.seed = UInt64(value) ?? options.seed
    case "--kill-percent": options.killPercent = Int(value) ?? options.killPercent
    case "--steps": options.steps = Int(value) ?? options.steps
    default:
        print("usage: rdr-torture --rdr PATH [--runs N] [--seed S] [--kill-percent P] [--steps N]")
        exit(flag == "--help" ? 0 : 64)
    }
}
guard !options.rdr.isEmpty else {
    print("Error: missing --rdr PATH")
    exit(64)
}

let diskSize = 4 << 20
let disks = ["boot", "data"]

/// Runs rdr; with `kill`, SIGKILLs it after `delay` seconds. Returns the exit status
/// (137 when killed) and stdout.
@MainActor func rdr(_ args: [String], system: String, kill delay: Double? = nil) -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: options.rdr)
    p.arguments = args + ["--system", system]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    p.standardInput = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return (127, "") }
    if let delay {
        usleep(useconds_t(delay * 1_000_000))
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
    return (status, String(decoding: data, as: UTF8.self))
}

@MainActor func session(_ system: String) -> [String: Any] {
    let (_, out) = rdr(["status", "--json"], system: system)
    let obj = (try? JSONSerialization.jsonObject(with: Data(out.utf8))) as? [String: Any]
    return obj?["session"] as? [String: Any] ?? [:]
}

func image(_ system: String, _ disk: String, _ e: Int) -> [UInt8] {
    [UInt8](FileManager.default.contents(atPath: "\(system)/\(disk)-\(e).img") ?? Data())
}

/// The oracle: each member's expected bytes, and the upgrade state it believes in.
struct Oracle {
    var bytes: [String: [[UInt8]]] = Dictionary(uniqueKeysWithValues: disks.map { ($0, [[UInt8](repeating: 0, count: diskSize), [UInt8](repeating: 0, count: diskSize)]) })
    var state = "Idle"

    /// Members a write from `side` reaches in `state`, or nil when it is refused.
    func targets(_ disk: String, _ side: String) -> [Int]? {
        switch state {
        case "Idle": return [0, 1]
        case "Split": return side == "production" ? [0] : (disk == "data" ? nil : [1])
        case "Merge": return side == "upgrade" ? (disk == "boot" ? [1] : [0]) : nil
        default: return nil
        }
    }

    mutating func apply(_ disk: String, members: [Int], offset: Int, data: [UInt8]) {
        for m in members { bytes[disk]![m].replaceSubrange(offset..<offset + data.count, with: data) }
    }

    /// Commit: boot takes the Upgrade member, data the Production member. Abort: Production.
    mutating func resolve(commit: Bool) {
        for d in disks {
            let winner = commit && d == "boot" ? 1 : 0
            bytes[d]![1 - winner] = bytes[d]![winner]
        }
    }
}

/// Every non-hidden file of the system with its bytes (member images, metadata, manifest).
func snapshot(_ system: String) -> [String: Data] {
    var out: [String: Data] = [:]
    for name in (try? FileManager.default.contentsOfDirectory(atPath: system)) ?? [] where !name.hasPrefix(".") {
        if let d = FileManager.default.contents(atPath: system + "/" + name) { out[name] = d }
    }
    return out
}

/// Hostile move: the manifest edited so a member names a file that is not its own (another
/// member's image or metadata, rdr's own files, a path outside). The oracle: every command is
/// refused with 65 and no file changes; the edit is then undone.
@MainActor func hostileManifestEdit(_ system: String) -> String? {
    let manifestPath = system + "/rdr.json"
    guard let original = FileManager.default.contents(atPath: manifestPath),
          var object = (try? JSONSerialization.jsonObject(with: original)) as? [String: Any],
          var disksJSON = object["disks"] as? [[String: Any]] else { return "cannot read the manifest" }
    let d = Int(rng.next() % UInt64(disksJSON.count))
    var members = disksJSON[d]["members"] as? [[String: Any]] ?? []
    let m = Int(rng.next() % UInt64(max(1, members.count)))
    let other = disks[(d + 1) % disks.count]
    let key = pick(["image", "metadata"])
    let value = pick(["\(other)-10.img", "\(other)-11.rdrmeta", "\(disks[d])-\([11, 10][m]).img", "rdr.json", ".rdr.lock",
                      "session.json", "../outside.img", "/tmp/outside.img", "", "activity.log.jsonl"])
    members[m][key] = value
    disksJSON[d]["members"] = members
    object["disks"] = disksJSON
    guard let edited = try? JSONSerialization.data(withJSONObject: object) else { return "cannot write the manifest" }
    try? edited.write(to: URL(fileURLWithPath: manifestPath))
    defer { try? original.write(to: URL(fileURLWithPath: manifestPath)) }
    return expectRefused(system, what: "manifest edit \(disks[d]) member \(m) \(key)=\(value)")
}

/// Hostile move: member images swapped (within a disk or between disks) or one replaced by a
/// copy of another file. The oracle: writes and resyncs are refused with 65, status says
/// Error, no file changes; the images are then put back.
@MainActor func swapOrReplaceImages(_ system: String) -> String? {
    let a = "\(system)/\(pick(disks))-\(pick([10, 11])).img"
    let kind = pick(["within", "between", "replace"])
    let b: String
    switch kind {
    case "within": b = a.hasSuffix("-10.img") ? a.replacingOccurrences(of: "-10.img", with: "-11.img") : a.replacingOccurrences(of: "-11.img", with: "-10.img")
    case "between": b = a.contains("/boot-") ? a.replacingOccurrences(of: "/boot-", with: "/data-") : a.replacingOccurrences(of: "/data-", with: "/boot-")
    default: b = a + ".saved"
    }
    let fm = FileManager.default
    if kind == "replace" {
        try? fm.moveItem(atPath: a, toPath: b)
        try? fm.copyItem(atPath: b, toPath: a)  // same bytes, another file: a restore from a backup
    } else {
        try? fm.moveItem(atPath: a, toPath: a + ".swap")
        try? fm.moveItem(atPath: b, toPath: a)
        try? fm.moveItem(atPath: a + ".swap", toPath: b)
    }
    defer {
        if kind == "replace" {
            try? fm.removeItem(atPath: a)
            try? fm.moveItem(atPath: b, toPath: a)
        } else {
            try? fm.moveItem(atPath: a, toPath: a + ".swap")
            try? fm.moveItem(atPath: b, toPath: a)
            try? fm.moveItem(atPath: a + ".swap", toPath: b)
        }
    }
    let disk = String(a.split(separator: "/").last?.split(separator: "-").first ?? "boot")
    let (_, out) = rdr(["status", "--json", disk], system: system)
    guard out.contains("\"status\":\"Error\"") else { return "\(kind) swap of \(a): status does not say Error" }
    // (--full is left out here: it is the way out, and rebuilds from the member the user names.)
    return expectRefused(system, what: "\(kind) swap of \(a)", disks: [disk], full: false)
}

/// Runs a random changing command, which must be refused with 65 and change no file.
@MainActor func expectRefused(_ system: String, what: String, disks names: [String] = disks, full: Bool = true) -> String? {
    let before = snapshot(system)
    let disk = pick(names), side = pick(["production", "upgrade"])
    var commands = [["write", disk, "--side", side, "--offset", "0", "--pattern", "1", "--length", "4096"],
                    ["disk", "resync", disk, "--from", pick(["10", "11"])],
                    ["workload", disk, "--side", side, "--bytes", "64K"]]
    if full { commands.append(["disk", "resync", disk, "--from", pick(["10", "11"]), "--full", "--force"]) }
    let args = pick(commands)
    let (status, _) = rdr(args, system: system)
    if status != 65 { return "\(what): 'rdr \(args.joined(separator: " "))' exited \(status), must be refused with 65" }
    if snapshot(system) != before { return "\(what): 'rdr \(args.joined(separator: " "))' changed files" }
    return nil
}

var rng = SplitMixRandom(seed: options.seed)
@MainActor func chance(_ percent: Int) -> Bool { Int(rng.next() % 100) < percent }
@MainActor func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }

var kills = 0, mismatches = 0, runs = 0, hostile = 0
for run in 0..<options.runs {
    let runSeed = rng.next()
    rng = SplitMixRandom(seed: runSeed)
    let system = NSTemporaryDirectory() + "rdr-torture-\(getpid())-\(run)"
    defer { try? FileManager.default.removeItem(atPath: system) }
    guard rdr(["init", "--disk", "boot:4M:mandatory", "--disk", "data:4M:data"], system: system).0 == 0 else {
        print("run \(run): init failed"); exit(1)
    }
    var oracle = Oracle()
    var failure: String?

    /// Brings a Broken session back to Ready: retry (or abort when allowed), never killed.
    func settle() {
        for _ in 0..<6 {
            let s = session(system)
            guard s["operationalState"] as? String == "Broken" else { break }
            let allowed = s["allowedRequests"] as? [String] ?? []
            let fix = allowed.contains("abort") && chance(30) ? "abort" : "retry"
            if rdr([fix], system: system).0 == 0, fix == "abort" { oracle.state = "Abort"; oracle.resolve(commit: false) }
        }
        if let st = session(system)["upgradeState"] as? String { oracle.state = st }
    }

    for _ in 0..<options.steps {
        settle()
        if chance(15) && SystemLock.holder(systemPath: system, sys: LinuxSystemCalls()) == nil {
            hostile += 1
            failure = chance(50) ? hostileManifestEdit(system) : swapOrReplaceImages(system)
            if failure != nil { break }
            continue
        }
        let state = oracle.state
        let killIt = chance(options.killPercent)
        let delay = Double(rng.next() % 60) / 1000
        if chance(55) && ["Idle", "Split", "Merge"].contains(state) {
            // A pattern write on a random side and disk.
            let disk = pick(disks), side = pick(["production", "upgrade"])
            let offset = Int(rng.next() % UInt64(diskSize / 4096 - 64)) * 4096
            let length = (1 + Int(rng.next() % 48)) * 4096
            let seed = rng.next() % 1_000_000
            let before = oracle.bytes[disk]!
            let (status, _) = rdr(["write", disk, "--side", side, "--offset", "\(offset)", "--pattern", "\(seed)", "--length", "\(length)"],
                                  system: system, kill: killIt ? delay : nil)
            let data = Pattern.bytes(count: length, seed: seed, offset: Int64(offset))
            if status == 0 {
                guard let members = oracle.targets(disk, side) else { failure = "write \(disk) \(side) in \(state) succeeded but must be refused"; break }
                oracle.apply(disk, members: members, offset: offset, data: data)
            } else if status == 137 {
                kills += 1
                // Killed mid-write: each 4 KiB block holds the old or the new bytes, nothing else.
                for m in oracle.targets(disk, side) ?? [] {
                    let actual = image(system, disk, [10, 11][m])
                    for b in stride(from: 0, to: length, by: 4096) {
                        let r = offset + b..<offset + b + 4096
                        let got = Array(actual[r])
                        if got == Array(data[b..<b + 4096]) { oracle.bytes[disk]![m].replaceSubrange(r, with: got) } else if got != Array(before[m][r]) {
                            failure = "killed write left bytes that are neither old nor new at \(disk) member \([10, 11][m]) offset \(offset + b)"
                        }
                    }
                }
                // An interrupted duplex write leaves its regions marked: resync them as md would.
                if state == "Idle" { _ = rdr(["disk", "resync", disk, "--from", "10"], system: system) ; oracle.bytes[disk]![1] = oracle.bytes[disk]![0] }
            } else if oracle.targets(disk, side) != nil && status != 75 {
                failure = "write \(disk) \(side) in \(state) failed with \(status)"
            }
        } else {
            let next: String
            switch state {
            case "Idle": next = "split"
            case "Split": next = chance(25) ? "abort" : "merge"
            case "Merge": next = chance(30) ? "abort" : "commit"
            default: next = "finish"
            }
            let (status, _) = rdr([next], system: system, kill: killIt ? delay : nil)
            if status == 137 { kills += 1 }
            if status != 0 && status != 137 && next != "finish" && next != "split" { failure = "\(next) failed with \(status)" }
            settle()
            let after = session(system)["upgradeState"] as? String ?? state
            if (next == "commit" && after == "Commit") { oracle.resolve(commit: true) }
            if (next == "abort" && after == "Abort") { oracle.resolve(commit: false) }
            oracle.state = after
        }
        if failure != nil { break }
    }
    // Finish the session, then every resync (resuming any killed background worker).
    for _ in 0..<8 where failure == nil {
        settle()
        switch oracle.state {
        case "Split", "PrepareSplit", "PrepareMerge": if rdr(["abort"], system: system).0 == 0 { oracle.resolve(commit: false) }
        case "Merge": if rdr(["commit"], system: system).0 == 0 { oracle.resolve(commit: true) }
        case "Commit", "Abort": _ = rdr(["finish"], system: system)
        default: break
        }
        oracle.state = session(system)["upgradeState"] as? String ?? oracle.state
    }
    for _ in 0..<100 where SystemLock.holder(systemPath: system, sys: LinuxSystemCalls()) != nil { usleep(50_000) }
    _ = rdr(["disk", "resync", "--all"], system: system)
    if failure == nil {
        for d in disks {
            for (i, e) in [10, 11].enumerated() where image(system, d, e) != oracle.bytes[d]![i] {
                failure = "\(d) member \(e) differs from the oracle"
            }
        }
    }
    runs += 1
    if let failure {
        mismatches += 1
        print("MISMATCH run \(run) (replay: --seed \(options.seed) --runs \(run + 1)): \(failure)")
    }
}
print("\(runs) runs, \(kills) kills, \(mismatches) mismatches, \(hostile) hostile edits and swaps refused (seed \(options.seed))")
exit(mismatches == 0 ? 0 : 1)
