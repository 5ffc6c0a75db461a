import Foundation
import Glibc

/// Where a custom action's stdout and stderr go: two files in `action-output/` beside the
/// activity log, named after the log entry. The log keeps only the last `tailBytes` of each
/// (an action printing 200 MB costs the log and `rdr` no more than that); the log entry names
/// the file holding the whole output.
struct ActionOutput {
    static let directoryName = "action-output"
    /// Per stream: at most 64 KiB of one action's output reaches the log.
    static let tailBytes = 32 << 10

    let stdoutPath: String
    let stderrPath: String
    let stdout: Int32
    let stderr: Int32

    /// Opens (truncating) the two files; nil when the directory cannot be written.
    static func open(systemPath: String, entry: Int, file: String) -> ActionOutput? {
        let dir = systemPath + "/" + directoryName
        if mkdir(dir, 0o755) != 0 && errno != EEXIST { return nil }
        let base = dir + "/\(entry)-" + (file as NSString).lastPathComponent
        let flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW
        let out = Glibc.open(base + ".stdout", flags, 0o644)
        let err = Glibc.open(base + ".stderr", flags, 0o644)
        guard out >= 0, err >= 0 else {
            if out >= 0 { close(out) }
            if err >= 0 { close(err) }
            return nil
        }
        return ActionOutput(stdoutPath: base + ".stdout", stderrPath: base + ".stderr", stdout: out, stderr: err)
    }

    /// Closes the files and describes both streams for the log; empty streams' files are removed.
    func finish() -> String {
        close(stdout)
        close(stderr)
        return [describe("stdout", stdoutPath), describe("stderr", stderrPath)].compactMap { $0 }.joined(separator: "\n")
    }

    private func describe(_ name: String, _ path: String) -> String? {
        let (tail, size) = Self.tail(path, Self.tailBytes)
        guard size > 0 else {
            unlink(path)
            return nil
        }
        let head = size > Int64(tail.count)
            ? "\(name) — \(size) bytes, the last \(tail.count) shown; whole output: \(path)"
            : "\(name) — whole output: \(path)"
        return head + "\n" + String(decoding: tail, as: UTF8.self).trimmingCharacters(in: .newlines)
    }

    /// The last `limit` bytes of a file (read with one pread) and its size.
    static func tail(_ path: String, _ limit: Int) -> ([UInt8], Int64) {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return ([], 0) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return ([], 0) }
        let size = Int64(st.st_size)
        let count = Int(min(Int64(limit), size))
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(size - Int64(count))) }
        return (Array(buffer.prefix(max(0, n))), size)
    }
}
