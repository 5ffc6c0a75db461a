import Foundation
import RDR

/// What the loop counts, printed at the end (the README's figures).
struct Tally {
    var runs = 0, kills = 0, mismatches = 0
    var simulated = 0, armed = 0, forcedAborts = 0, forcedWhileBusy = 0, recovered = 0, hostileRefused = 0,
        hostileFiles = 0
}

/// One random session history on a fresh system: writes, requests, simulated failures, forced
/// aborts (also of a running request), automatic recoveries, hostile configurations, manifest
/// edits and swapped or replaced images, with
/// SIGKILLs at random moments; `failure` names the first thing that contradicts the oracle.
@MainActor
final class TortureRun {
    var rng: SplitMixRandom
    let rdr: RDRRunner
    let configs: Configs
    let killPercent: Int
    let usesConfig: Bool
    var oracle = Oracle()
    var failure: String?
    var tally = Tally()

    init(seed: UInt64, system: String, binary: String, killPercent: Int) {
        rng = SplitMixRandom(seed: seed)
        rdr = RDRRunner(binary: binary, system: system)
        configs = Configs(dir: system + "-config", system: system)
        self.killPercent = killPercent
        usesConfig = rng.next() % 2 == 0
    }

    func chance(_ percent: Int) -> Bool { Int(rng.next() % 100) < percent }
    func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
    var killDelay: Double? { chance(killPercent) ? Double(rng.next() % 60) / 1000 : nil }

    func fail(_ text: String) { if failure == nil { failure = text } }

    /// Reads the state `rdr` reports into the oracle; returns the session.
    @discardableResult
    func observe() -> [String: Any] {
        guard let s = rdr.session() else {
            fail("'rdr status --json' failed")
            return [:]
        }
        if let st = s["upgradeState"] as? String { oracle.observe(st) }
        return s
    }

    var pending: [String] { rdr.session()?["pendingEvents"] as? [String] ?? [] }

    /// A request may fail now without contradicting the oracle: a failure is armed, or the session
    /// uses the configuration whose action file is missing (every request running it breaks; the
    /// ways out are `abort --force` and `retry --force`).
    var failureExpected: Bool {
        guard let s = rdr.session() else { return false }
        return !(s["pendingEvents"] as? [String] ?? []).isEmpty || s["configuration"] as? String == "missing.Config"
    }

    func run(steps: Int) {
        guard rdr.run(["init", "--disk", "boot:4M:mandatory", "--disk", "data:4M:data"]).0 == 0 else {
            return fail("init failed")
        }
        for _ in 0..<steps where failure == nil {
            settle()
            let s = observe()
            let ready = s["operationalState"] as? String == "Ready"
            let state = oracle.state
            if chance(12) && SystemLock.holder(systemPath: rdr.system, sys: LinuxSystemCalls()) == nil {
                hostileFileMove()
            } else if ready && chance(50) && ["Idle", "Split", "Merge"].contains(state) {
                writeMove()
            } else if ready && state == "Split" && chance(30) {
                simulateMove(partner: s["partnerState"] as? String ?? "")
            } else if Oracle.active.contains(state) && chance(15) {
                forcedAbortMove(
                    busy: ready && state == "Split" && usesConfig && s["partnerState"] as? String == "OS Up"
                        && chance(70))
            } else if ready && state == "Idle" && chance(15) {
                armMove()
            } else {
                requestMove(partner: s["partnerState"] as? String ?? "")
            }
        }
        finishSessions()
    }

    /// A Broken session: an interrupted one is half the time left to the next command's automatic
    /// recovery (`finish` then always applies), otherwise retry or abort by hand.
    func settle() {
        for _ in 0..<6 where failure == nil {
            let s = observe()
            guard s["operationalState"] as? String == "Broken" else { return }
            let armed = failureExpected
            if s["interrupted"] as? Bool == true && chance(50) {
                let (status, out) = rdr.run(["finish"])
                if status == 0 && out.contains("Recovered (autoRecover: ") {
                    tally.recovered += 1
                } else if !armed {
                    fail("automatic recovery by 'rdr finish' failed with \(status): \(out)")
                }
            } else {
                // An abort, commit or finish broken by a failing action is only completed with --force.
                let allowed = s["allowedRequests"] as? [String] ?? []
                let fix =
                    allowed.contains("abort --force") && chance(50)
                    ? ["abort", "--force"]
                    : allowed.contains("retry --force") && chance(50)
                        ? ["retry", "--force"]
                        : allowed.contains("abort") && chance(30) ? ["abort"] : ["retry"]
                if fix == ["abort", "--force"] { tally.forcedAborts += 1 }
                _ = rdr.run(fix)
            }
        }
        observe()
    }
}
