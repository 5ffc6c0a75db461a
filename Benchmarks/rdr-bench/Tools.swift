import Foundation

/// One contestant: a way to make the target byte-identical to the source (RDR, a peer), or a
/// yardstick (the dd ceiling, the replayed-extent limit). Only `run` is timed; `prepare` puts
/// the pair back in its starting state and `check` judges the result, both untimed.
/// Peers get `sync TARGET` appended: RDR fsyncs its target before it reports done, so a
/// peer's time includes making its bytes durable too.
struct Tool {
    let name: String
    var missing: String? = nil
    /// Untimed, before every run (default: the target and metadata back to the diverged state).
    var prepare: (DivergedPair) throws -> Void = { try $0.restore() }
    /// The timed run.
    let run: (DivergedPair) -> Runner.Result
    /// Untimed, after every successful run: nil, or what is wrong (default: target ≠ source).
    var check: (DivergedPair) -> String? = Measure.sameBytes

    /// A tool that is one shell command, timed with its peak RSS.
    static func shell(_ name: String, missing: String? = nil, _ command: @escaping (DivergedPair) -> String) -> Tool {
        Tool(name: name, missing: missing, run: { Runner.measured(command($0)) })
    }

    /// A tool that cannot run here, reported as skipped with `reason`.
    static func unavailable(_ name: String, _ reason: String) -> Tool {
        Tool(name: name, missing: reason, run: { _ in Runner.Result(seconds: 0, status: 1, maxRSSKiB: 0, output: "") })
    }

    static func rdrCommand(_ binary: String, _ extra: String, _ p: DivergedPair) -> String {
        "'\(binary)' disk resync d --from 10 --system '\(p.system)' \(extra) > /dev/null"
    }

    static func rdr(_ binary: String, _ extra: String = "") -> Tool {
        shell("rdr") { rdrCommand(binary, extra, $0) }
    }

    static func peers() -> [Tool] {
        func peer(_ name: String, _ binary: String, _ package: String, _ cmd: @escaping (String, String) -> String)
            -> Tool
        {
            shell(
                name, missing: Runner.which(binary) == nil ? "\(binary) not installed (Debian package \(package))" : nil
            ) { p in
                cmd(p.source, p.target) + " && sync '\(p.target)'"
            }
        }
        return [
            peer("cp --sparse=always", "cp", "coreutils") { "cp --sparse=always '\($0)' '\($1)'" },
            peer("qemu-img convert", "qemu-img", "qemu-utils") { "qemu-img convert -n -f raw -O raw '\($0)' '\($1)'" },
            peer("nbdcopy", "nbdcopy", "libnbd-bin") { "nbdcopy '\($0)' '\($1)'" },
            peer("rsync --inplace", "rsync", "rsync") { "rsync --inplace --no-whole-file '\($0)' '\($1)'" },
        ]
    }

    /// The disk's sequential ceiling: `dd bs=4M conv=fdatasync` of a file as large as the
    /// diverged set (written once by `Measure.interleaved`'s caller, removed after).
    static func ddCeiling(input: String, output: String) -> Tool {
        Tool(
            name: "dd ceiling",
            prepare: { _ in _ = Runner.shell("rm -f '\(output)'") },
            run: { _ in Runner.shell("dd if='\(input)' of='\(output)' bs=4M conv=fdatasync status=none") },
            check: { _ in nil })
    }
}

/// One tool's cold-cache runs on one pair, each checked.
struct Measurement {
    var tool: String
    var times: [Double] = []
    var failed: String?
    var maxRSSKiB = 0
    var median: Double { Runner.median(times) }
    var min: Double { times.min() ?? .nan }
    /// (max − min) / median: how far apart this tool's runs were.
    var spread: Double { times.isEmpty ? .nan : ((times.max() ?? 0) - min) / median }
    /// Report cells: every run's time, and the peak RSS ("–" when it could not be measured).
    var runsText: String { times.map { Experiments.s($0) }.joined(separator: ", ") }
    var rssText: String { maxRSSKiB > 0 ? "\(maxRSSKiB / 1024) MiB" : "–" }
}

enum Measure {
    /// Runs the tools in rounds, each round every tool once in the same order (A B C, A B C, …),
    /// so a disk that drifts over minutes slows every tool alike instead of whichever ran then.
    /// Before each run: `prepare`, then the page cache is dropped. A failed run or a wrong
    /// result stops that tool (its reason is reported); the others go on.
    static func interleaved(_ tools: [Tool], on pair: DivergedPair, rounds: Int, log: (String) -> Void = { _ in })
        -> [Measurement]
    {
        var out = tools.map { t in Measurement(tool: t.name, failed: t.missing.map { "skipped: \($0)" }) }
        for round in 0..<rounds {
            for (i, tool) in tools.enumerated() where out[i].failed == nil {
                log("  round \(round + 1)/\(rounds): \(tool.name) …")
                do { try tool.prepare(pair) } catch {
                    out[i].failed = "prepare failed: \(error)"
                    continue
                }
                Runner.dropCaches()
                let r = tool.run(pair)
                guard r.ok else {
                    out[i].failed = "exit \(r.status): \(r.output.split(separator: "\n").last ?? "")"
                    try? pair.rebuildTarget()
                    continue
                }
                if let wrong = tool.check(pair) {
                    out[i].failed = wrong
                    try? pair.rebuildTarget()
                    continue
                }
                out[i].times.append(r.seconds)
                out[i].maxRSSKiB = max(out[i].maxRSSKiB, r.maxRSSKiB)
            }
        }
        return out
    }

    static func tool(_ tool: Tool, on pair: DivergedPair, runs: Int) -> Measurement {
        interleaved([tool], on: pair, rounds: runs)[0]
    }

    /// Real cmp where it is cheap; the sparse-aware compare (holes as zeros) on big disks.
    static func sameBytes(_ pair: DivergedPair) -> String? {
        let same =
            pair.size <= 2 << 30
            ? Runner.shell("cmp -s '\(pair.source)' '\(pair.target)'").ok
            : SparseCompare.identical(pair.source, pair.target)
        return same ? nil : "left different bytes (cmp)"
    }
}
