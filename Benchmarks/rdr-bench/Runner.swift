import CRDRSys
import Foundation

/// Runs commands and measures them: wall time (monotonic) and the child's peak RSS (wait4).
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
        defer { close(fd); unlink(outPath) }
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        cargs.append(nil)
        defer { for a in cargs { free(a) } }
        var rss = 0
        let begin = Monotonic.now()
        let status = rdr_run_wait(&cargs, fd, &rss)
        let seconds = Monotonic.now() - begin
        let output = FileManager.default.contents(atPath: outPath).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let exit: Int32 = status < 0 ? 127 : ((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f))
        return Result(seconds: seconds, status: exit, maxRSSKiB: rss, output: output)
    }

    static func shell(_ command: String) -> Result { run(["/bin/sh", "-c", command]) }

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

import RDR
