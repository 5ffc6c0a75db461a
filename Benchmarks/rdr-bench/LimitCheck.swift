import Foundation
import RDR

extension Experiments {
    /// The limit's premises, checked on a small pair: the plan moves the bytes RDR's resync
    /// reports moving (its `--json` summary), and fio's replay reads and writes exactly the
    /// plan's copy bytes (psync, whose byte counters are exact), besides the per-run checks
    /// (punches are holes, I/O counts, fio's pattern in every copy extent) of the lane's engine.
    mutating func limitCheck() throws {
        let p = try pair("limitcheck", .init(size: 256 << 20, allocated: 0.25, sourceFraction: 0.1))
        defer { p.remove() }
        let exact = ReplayEngine(name: "psync", direct: false, iodepth: 1, note: "psync")
        let plan = try ReplayLimit(pair: p, engine: exact)
        let laneLimit = try lane.engine.map { try ReplayLimit(pair: p, engine: $0) }
        try p.restore()
        let r = Runner.shell("'\(rdr)' disk resync d --from 10 --system '\(p.system)' --json")
        let json = (try? JSONSerialization.jsonObject(with: Data(r.output.utf8))) as? [String: Any]
        let copied = (json?["bytesCopied"] as? Int).map(Int64.init)
        let punched = (json?["bytesPunched"] as? Int).map(Int64.init)
        report +=
            "\n## The limit's premises (\(Self.mib(p.size)) disk, 25% allocated, 10% diverged)\n\n| measure | plan | measured | |\n| --- | ---: | ---: | --- |\n"
        func row(_ what: String, _ plan: Int64, _ got: Int64?) {
            report +=
                "| \(what) | \(plan) | \(got.map(String.init) ?? "–") | \(got == plan ? "equal" : "**differs**") |\n"
        }
        row("bytes copied by `rdr disk resync`", plan.copyBytes, copied)
        row("bytes punched by `rdr disk resync`", plan.punchBytes, punched)
        for limit in [plan] + (laneLimit.map { [$0] } ?? []) {
            try p.restore()
            Runner.dropCaches()
            let run = limit.run()
            let problem = run.ok ? limit.check() : "exit \(run.status): \(run.output)"
            let jobs = limit.jobs ?? []
            let name = limit.engine.name
            if limit.engine.name == "psync" {
                row("bytes read by fio (\(name))", plan.copyBytes, jobs.first { $0.name == "reads" }?.bytes)
                row("bytes written by fio (\(name))", plan.copyBytes, jobs.first { $0.name == "writes" }?.bytes)
            }
            row(
                "reads + writes issued by fio (\(name))", Int64(2 * plan.copies.count),
                Int64(jobs.reduce(0) { $0 + $1.ios }))
            report +=
                "| per-run check of the \(name) replay (punches are holes, I/O counts, pattern in every copy extent) | | | \(problem ?? "passed") |\n"
        }
    }
}
