import Foundation

/// Calls per syscall kind of one untimed run under `strace -c -f` (counts, not times: strace
/// slows every call, but the number of calls is what grows with the disk when it should not).
struct SyscallCounts {
    var calls: [String: Int] = [:]
    var total = 0

    /// Runs `command` (a shell command) under strace on `pair`, restored and cold; nil when
    /// strace is missing or fails.
    static func of(_ command: String, pair: DivergedPair) -> SyscallCounts? {
        guard Runner.which("strace") != nil, (try? pair.restore()) != nil else { return nil }
        Runner.dropCaches()
        let out = pair.dir + "/strace-c.txt"
        defer { unlink(out) }
        guard Runner.shell("strace -c -f -o '\(out)' \(command)").ok,
            let text = try? String(contentsOfFile: out, encoding: .utf8)
        else { return nil }
        return parse(text)
    }

    /// strace's summary table: numbers right-aligned under the header, so each line's `calls`
    /// field ends where the header's word "calls" ends (the errors column may be blank).
    static func parse(_ text: String) -> SyscallCounts? {
        let lines = text.split(separator: "\n").map(String.init)
        guard let header = lines.first(where: { $0.contains("calls") && $0.contains("syscall") }),
            let r = header.range(of: "calls")
        else { return nil }
        let end = header.distance(from: header.startIndex, to: r.upperBound)
        var c = SyscallCounts()
        for line in lines where !line.hasPrefix("%") && !line.hasPrefix("-") && line.count > end {
            let name = line.split(separator: " ").last.map(String.init) ?? ""
            let field = line.prefix(end).split(separator: " ").last.flatMap { Int($0) }
            guard let n = field, !name.isEmpty else { continue }
            if name == "total" { c.total = n } else { c.calls[name] = n }
        }
        return c.calls.isEmpty ? nil : c
    }

    /// Side by side, most frequent first; a note when there is nothing to compare.
    static func table(_ runs: [(label: String, counts: SyscallCounts)]) -> String {
        guard runs.count >= 2 else {
            return
                "\nSyscall counts: not measured (\(Runner.which("strace") == nil ? "strace not installed (Debian package strace)" : "strace failed")).\n"
        }
        var s =
            "\nSyscall counts of one untimed run each (`strace -c -f`), same diverged bytes:\n\n| syscall | "
            + runs.map { "calls, \($0.label)" }.joined(separator: " | ") + " |\n"
        s += "| --- |" + String(repeating: " ---: |", count: runs.count) + "\n"
        let names = Set(runs.flatMap { $0.counts.calls.keys }).sorted { a, b in
            let x = runs.map { $0.counts.calls[a] ?? 0 }.max() ?? 0
            let y = runs.map { $0.counts.calls[b] ?? 0 }.max() ?? 0
            return x != y ? x > y : a < b
        }
        for n in names {
            s += "| \(n) | " + runs.map { "\($0.counts.calls[n] ?? 0)" }.joined(separator: " | ") + " |\n"
        }
        return s + "| **total** | " + runs.map { "**\($0.counts.total)**" }.joined(separator: " | ") + " |\n"
    }
}
