import Foundation
import RDR

extension Experiments {
    /// What a user waits for before any work: the size of the `rdr` binary measured (as
    /// deployed: compare.sh passes the stripped static build) and a cold `rdr status` on a
    /// small system, the page cache dropped before each run, spawned directly (no shell).
    mutating func startup(runs: Int = 10) throws {
        let bytes = (try? FileManager.default.attributesOfItem(atPath: rdr)[.size] as? Int) ?? 0
        let dir = work + "/startup"
        _ = Runner.shell("rm -rf '\(dir)'")
        defer { _ = Runner.shell("rm -rf '\(dir)'") }
        guard Runner.run([rdr, "init", "--system", dir + "/sys", "--disk", "d:64M:system"]).ok else {
            report += "\n## Start-up\n\n`rdr init` failed; not measured.\n"
            return
        }
        // Interleaved with `rdr status`: reading the binary cold (the floor: the kernel reads
        // megabytes around each page fault, so a start-up reads about all of it) and `/bin/true`
        // cold (the cost of any process with the C library).
        var times: [Double] = []
        var reads: [Double] = []
        var trues: [Double] = []
        for _ in 0..<runs {
            Runner.dropCaches()
            let r = Runner.run([rdr, "status", "--system", dir + "/sys"])
            if r.ok { times.append(r.seconds * 1000) }
            Runner.dropCaches()
            let begin = Monotonic.now()
            if FileManager.default.contents(atPath: rdr) != nil { reads.append((Monotonic.now() - begin) * 1000) }
            Runner.dropCaches()
            let t = Runner.run(["/bin/true"])
            if t.ok { trues.append(t.seconds * 1000) }
        }
        let median = Runner.median(times)
        report += "\n## Start-up\n\n| measure | value |\n| --- | ---: |\n"
        report +=
            "| `rdr` binary as measured (\(URL(fileURLWithPath: rdr).lastPathComponent)) | \(Self.f(Double(bytes) / 1e6, 1)) MB |\n"
        report +=
            "| cold `rdr status`, one 64 MiB disk: median of \(times.count) (min, max) | \(Self.f(median, 1)) ms (\(Self.f(times.min() ?? .nan, 1)), \(Self.f(times.max() ?? .nan, 1))) |\n"
        report +=
            "| reading the binary, cold: median (min, max) | \(Self.f(Runner.median(reads), 1)) ms (\(Self.f(reads.min() ?? .nan, 1)), \(Self.f(reads.max() ?? .nan, 1))) |\n"
        report +=
            "| cold `/bin/true`: median (min, max) | \(Self.f(Runner.median(trues), 1)) ms (\(Self.f(trues.min() ?? .nan, 1)), \(Self.f(trues.max() ?? .nan, 1))) |\n"
        report +=
            "\nCold: the page cache is dropped before each run\(Runner.canDropCaches ? "" : " (not possible here: not root, so these are warm)").\n"
        summary += [
            "rdr_binary_bytes=\(bytes)", "cold_status_ms=\(Self.f(median, 1))",
            "cold_binary_read_ms=\(Self.f(Runner.median(reads), 1))",
        ]
    }
}
