import CRDRSys
import Foundation
import RDR

/// Runs commands and measures them: wall time (monotonic) and the command's peak RSS.
/// The peak comes from GNU time (`/usr/bin/time -f %M`), not from our own wait4: a child that
/// posix_spawn starts runs on the parent's memory until its exec, and Linux carries that
/// high-water mark (rdr-bench's ~34 MiB) into the child's ru_maxrss, so every tool would read
/// at least the benchmark's own size. GNU time forks from a tiny process instead.
enum Runner {
    struct Result {
        var seconds: Double
        var status: Int32
        var maxRSSKiB: Int
        var output: String
        var ok: Bool { status == 0 }
    }

    static func run(_ args: [String]) -> Result {
        let outPath = NSTemporaryDirectory() + "rdr-bench-out-\(getpid())"
        let fd = open(outPath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer {
            close(fd)
            unlink(outPath)
        }
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        cargs.append(nil)
        defer { for a in cargs { free(a) } }
        let begin = Monotonic.now()
        let status = rdr_run_wait(&cargs, fd)
        let seconds = Monotonic.now() - begin
        let output = FileManager.default.contents(atPath: outPath).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let exit: Int32 = status < 0 ? 127 : ((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f))
        return Result(seconds: seconds, status: exit, maxRSSKiB: 0, output: output)
    }

    static func shell(_ command: String) -> Result { run(["/bin/sh", "-c", command]) }

    static let timePath = "/usr/bin/time"
    /// Whether peak RSS can be measured here (GNU time installed; Debian package `time`).
    static let canMeasureRSS = FileManager.default.isExecutableFile(atPath: timePath)

    /// Like `shell`, and also measures the command's peak RSS when GNU time is installed
    /// (otherwise `maxRSSKiB` is 0 and reports show "–").
    static func measured(_ command: String) -> Result {
        guard canMeasureRSS else { return shell(command) }
        let rssPath = NSTemporaryDirectory() + "rdr-bench-rss-\(getpid())"
        defer { unlink(rssPath) }
        var r = run([timePath, "-f", "%M", "-o", rssPath, "/bin/sh", "-c", command])
        // GNU time writes a "Command exited with non-zero status" line before the figure then.
        let text = (try? String(contentsOfFile: rssPath, encoding: .utf8)) ?? ""
        r.maxRSSKiB = text.split(separator: "\n").last(where: { Int($0) != nil }).flatMap { Int($0) } ?? 0
        return r
    }

    /// Whether the page cache can be dropped here (root on Linux); measured once.
    static let canDropCaches: Bool = FileManager.default.isWritableFile(atPath: "/proc/sys/vm/drop_caches")

    /// Writes back dirty pages, then drops the page cache so every run starts cold.
    static func dropCaches() {
        sync()
        if canDropCaches { _ = shell("echo 3 > /proc/sys/vm/drop_caches") }
    }

    static func which(_ tool: String) -> String? {
        let r = shell("command -v \(tool)")
        return r.ok ? r.output.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
