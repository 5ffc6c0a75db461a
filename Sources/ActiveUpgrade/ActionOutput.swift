import FoundationEssentials
import Glibc
import RDR

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
    let sys: any SystemCalls

    /// Opens (truncating) the two files; nil when the directory cannot be written.
    static func open(systemPath: String, entry: Int, file: String, sys: any SystemCalls) -> ActionOutput? {
        let dir = systemPath + "/" + directoryName
        let made = sys.mkdir(dir, 0o755)
        if made < 0 && made != -EEXIST { return nil }
        let base = dir + "/\(entry)-" + PathName.lastComponent(file)
        let flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW
        let out = sys.open(base + ".stdout", flags: flags, mode: 0o644)
        let err = sys.open(base + ".stderr", flags: flags, mode: 0o644)
        guard out >= 0, err >= 0 else {
            if out >= 0 { _ = sys.close(out) }
            if err >= 0 { _ = sys.close(err) }
            return nil
        }
        return ActionOutput(
            stdoutPath: base + ".stdout", stderrPath: base + ".stderr", stdout: out, stderr: err, sys: sys)
    }

    /// Closes the files and describes both streams for the log; empty streams' files are removed.
    func finish() -> String {
        _ = sys.close(stdout)
        _ = sys.close(stderr)
        return [describe("stdout", stdoutPath), describe("stderr", stderrPath)].compactMap { $0 }.joined(
            separator: "\n")
    }

    private func describe(_ name: String, _ path: String) -> String? {
        let (tail, size) = Self.tail(path, Self.tailBytes, sys: sys)
        guard size > 0 else {
            _ = sys.unlink(path)
            return nil
        }
        let head =
            size > Int64(tail.count)
            ? "\(name) — \(size) bytes, the last \(tail.count) shown; whole output: \(path)"
            : "\(name) — whole output: \(path)"
        return head + "\n" + Self.trimmingNewlines(String(decoding: tail, as: UTF8.self))
    }

    /// `text` without line breaks at either end (the characters Foundation's `.newlines` names).
    static func trimmingNewlines(_ text: String) -> String {
        let breaks: Set<Unicode.Scalar> = ["\n", "\u{0B}", "\u{0C}", "\r", "\u{85}", "\u{2028}", "\u{2029}"]
        var scalars = Substring(text).unicodeScalars
        while let first = scalars.first, breaks.contains(first) { scalars.removeFirst() }
        while let last = scalars.last, breaks.contains(last) { scalars.removeLast() }
        return String(scalars)
    }

    /// The last `limit` bytes of a file (read with one pread) and its size.
    static func tail(_ path: String, _ limit: Int, sys: any SystemCalls) -> ([UInt8], Int64) {
        guard let fd = try? FileDescriptor.openRaw(path, flags: O_RDONLY | O_CLOEXEC, mode: 0, sys: sys) else {
            return ([], 0)
        }
        defer { fd.close() }
        guard let size = try? fd.status().size else { return ([], 0) }
        let count = Int(min(Int64(limit), size))
        return ((try? fd.readBytes(count: count, at: size - Int64(count))) ?? [], size)
    }
}
