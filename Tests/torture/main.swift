import Foundation
import RDR

/// rdr-torture: random upgrade sessions driven through the real `rdr` binary, killed with
/// SIGKILL at random moments, resumed by hand or by the automatic recovery, with simulated
/// failures (`rdr simulate`), forced aborts (also of a running request), hostile configurations,
/// manifest edits and swapped or replaced images, all checked against an oracle that computes every member's expected bytes on
/// its own. Prints the counts and `N mismatches`; a failure prints its seed.
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

var rng = SplitMixRandom(seed: options.seed)
var total = Tally()
for run in 0..<options.runs {
    let system = NSTemporaryDirectory() + "rdr-torture-\(getpid())-\(run)"
    let t = TortureRun(seed: rng.next(), system: system, binary: options.rdr, killPercent: options.killPercent)
    t.run(steps: options.steps)
    try? FileManager.default.removeItem(atPath: system)
    try? FileManager.default.removeItem(atPath: t.configs.dir)
    total.runs += 1
    total.kills += t.tally.kills
    total.simulated += t.tally.simulated
    total.armed += t.tally.armed
    total.forcedAborts += t.tally.forcedAborts
    total.forcedWhileBusy += t.tally.forcedWhileBusy
    total.recovered += t.tally.recovered
    total.hostileRefused += t.tally.hostileRefused
    total.hostileFiles += t.tally.hostileFiles
    if let failure = t.failure {
        total.mismatches += 1
        print("MISMATCH run \(run) (replay: --seed \(options.seed) --runs \(run + 1)): \(failure)")
        let stderr = (try? String(contentsOfFile: t.rdr.stderrLog, encoding: .utf8)) ?? ""
        print(stderr.split(separator: "\n").suffix(30).map { "  | " + $0 }.joined(separator: "\n"))
    }
    try? FileManager.default.removeItem(atPath: t.rdr.stderrLog)
}
print(
    "\(total.runs) runs, \(total.kills) kills, \(total.simulated) simulated failures, \(total.armed) armed (split-timeout, action-signal), "
        + "\(total.forcedAborts) forced aborts (\(total.forcedWhileBusy) of a running request), \(total.recovered) automatic recoveries, "
        + "\(total.hostileRefused) hostile configurations and \(total.hostileFiles) hostile manifest edits and image swaps refused, "
        + "\(total.mismatches) mismatches (seed \(options.seed))")
exit(total.mismatches == 0 ? 0 : 1)
