import Foundation

let diskSize = 4 << 20
let diskNames = ["boot", "data"]

/// The oracle: each member's expected bytes, computed on its own from the pattern writes, the
/// routing by mode and role, and the direction a session ends in. It follows the upgrade state
/// `rdr` reports, and resolves a session by the transition it sees: any move from an active
/// state (PrepareSplit … Merge) to Abort or Idle is an abort (a request, `abort --force`, a
/// simulated shutdown, an automatic rollback); reaching Commit is a commit.
struct Oracle {
    var bytes: [String: [[UInt8]]] = Dictionary(
        uniqueKeysWithValues: diskNames.map {
            ($0, [[UInt8](repeating: 0, count: diskSize), [UInt8](repeating: 0, count: diskSize)])
        })
    var state = "Idle"
    static let active: Set<String> = ["PrepareSplit", "Split", "PrepareMerge", "Merge"]

    /// Members a write from `side` reaches in `state` (with the session Ready), or nil when refused.
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

    /// The state `rdr` now reports; resolves the session when the transition says how it ended.
    mutating func observe(_ after: String) {
        if Self.active.contains(state) && (after == "Abort" || after == "Idle") { resolve(commit: false) }
        if state != "Commit" && after == "Commit" { resolve(commit: true) }
        state = after
    }

    /// Commit: boot takes the Upgrade member, data the Production member. Abort: Production.
    private mutating func resolve(commit: Bool) {
        for d in diskNames {
            let winner = commit && d == "boot" ? 1 : 0
            bytes[d]![1 - winner] = bytes[d]![winner]
        }
    }
}
