import Foundation

/// A way to make the target byte-identical to the source, timed as one shell command.
/// Peers get `sync TARGET` appended: RDR fsyncs its target before it reports done, so a
/// peer's time includes making its bytes durable too.
struct Tool {
    let name: String
    let command: (DivergedPair) -> String
    let missing: String?

    static func rdr(_ binary: String, _ extra: String = "") -> Tool {
        Tool(name: "rdr", command: { p in "'\(binary)' disk resync d --from 10 --system '\(p.system)' \(extra) > /dev/null" }, missing: nil)
    }

    static func peers() -> [Tool] {
        func peer(_ name: String, _ binary: String, _ package: String, _ cmd: @escaping (String, String) -> String) -> Tool {
            Tool(name: name, command: { p in cmd(p.source, p.target) + " && sync '\(p.target)'" },
                 missing: Runner.which(binary) == nil ? "\(binary) not installed (Debian package \(package))" : nil)
        }
        return [
            peer("cp --sparse=always", "cp", "coreutils") { "cp --sparse=always '\($0)' '\($1)'" },
            peer("qemu-img convert", "qemu-img", "qemu-utils") { "qemu-img convert -n -f raw -O raw '\($0)' '\($1)'" },
            peer("nbdcopy", "nbdcopy", "libnbd-bin") { "nbdcopy '\($0)' '\($1)'" },
            peer("rsync --inplace", "rsync", "rsync") { "rsync --inplace --no-whole-file '\($0)' '\($1)'" },
        ]
    }
}

/// Median of several cold-cache runs of one tool on one pair, each checked against the source.
struct Measurement {
    var tool: String
    var times: [Double] = []
    var failed: String?
    var maxRSSKiB = 0
    var median: Double { Runner.median(times) }
    /// Report cells: every run's time, and the peak RSS ("–" when it could not be measured).
    var runsText: String { times.map { Experiments.f($0, 3) }.joined(separator: ", ") }
    var rssText: String { maxRSSKiB > 0 ? "\(maxRSSKiB / 1024) MiB" : "–" }
}

enum Measure {
    /// Runs `tool` `runs` times on `pair`, restoring the diverged state before each run and
    /// comparing target with source after it (`cmp`). A wrong result fails the tool.
    static func tool(_ tool: Tool, on pair: DivergedPair, runs: Int) -> Measurement {
        var m = Measurement(tool: tool.name)
        if let missing = tool.missing {
            m.failed = "skipped: \(missing)"
            return m
        }
        for _ in 0..<runs {
            do { try pair.restore() } catch {
                m.failed = "restore failed: \(error)"
                return m
            }
            Runner.dropCaches()
            let r = Runner.measured(tool.command(pair))
            guard r.ok else {
                m.failed = "exit \(r.status): \(r.output.split(separator: "\n").last ?? "")"
                try? pair.rebuildTarget()
                return m
            }
            // Real cmp where it is cheap; the sparse-aware compare (holes as zeros) on big disks.
            let same = pair.size <= 2 << 30 ? Runner.shell("cmp -s '\(pair.source)' '\(pair.target)'").ok : SparseCompare.identical(pair.source, pair.target)
            guard same else {
                m.failed = "left different bytes (cmp)"
                try? pair.rebuildTarget()
                return m
            }
            m.times.append(r.seconds)
            m.maxRSSKiB = max(m.maxRSSKiB, r.maxRSSKiB)
        }
        return m
    }

    /// The disk's ceiling: `dd bs=4M conv=fdatasync` of a file as large as the diverged set.
    static func ceiling(bytes: Int64, dir: String, runs: Int) -> Measurement {
        var m = Measurement(tool: "dd ceiling")
        let input = dir + "/ceiling.in", output = dir + "/ceiling.out"
        let mib = max(1, (bytes + (1 << 20) - 1) >> 20)
        _ = Runner.shell("head -c \(mib)M /dev/urandom > '\(input)'")
        for _ in 0..<runs {
            _ = Runner.shell("rm -f '\(output)'")
            Runner.dropCaches()
            let r = Runner.shell("dd if='\(input)' of='\(output)' bs=4M conv=fdatasync status=none")
            if r.ok { m.times.append(r.seconds) } else { m.failed = "dd failed" }
        }
        _ = Runner.shell("rm -f '\(input)' '\(output)'")
        return m
    }
}
