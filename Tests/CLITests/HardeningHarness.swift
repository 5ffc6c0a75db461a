import Foundation
import XCTest

@testable import RDR

/// Helpers for the hardening tests: small or read-only filesystems, the peak memory of a
/// running child, and shell commands a user would type (`mv`, `cp -a`, `ln -s`).
enum Host {
    /// Runs a program and returns its exit status (127 when it cannot start).
    @discardableResult
    static func run(_ tool: String, _ args: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return 127 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    @discardableResult
    static func shell(_ command: String) -> Int32 { run("/bin/sh", ["-c", command]) }

    /// Peak resident memory of a live process (VmHWM), in bytes; nil once it is gone.
    static func peakRSS(_ pid: Int32) -> Int64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int64($0) }.map { $0 * 1024 }
        }
        return nil
    }

    /// True once `condition` holds, polling for at most `seconds`.
    static func wait(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }
}

/// A filesystem mounted for one test (a tmpfs of a given size, or a read-only bind mount).
/// Mounting needs root; without it the test is skipped with the reason printed.
final class TestMount {
    let path: String

    private init(path: String) { self.path = path }

    static func tmpfs(size: String) throws -> TestMount {
        let path = NSTemporaryDirectory() + "rdr-mnt-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard Host.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", path]) == 0 else {
            try? FileManager.default.removeItem(atPath: path)
            throw XCTSkip("cannot mount a tmpfs (needs root): this test needs a small filesystem")
        }
        return TestMount(path: path)
    }

    /// `source` seen read-only at a new path.
    static func readOnlyView(of source: String) throws -> TestMount {
        let path = NSTemporaryDirectory() + "rdr-ro-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard Host.run("/bin/mount", ["--bind", source, path]) == 0 else {
            try? FileManager.default.removeItem(atPath: path)
            throw XCTSkip("cannot bind-mount (needs root): this test needs read-only media")
        }
        guard Host.run("/bin/mount", ["-o", "remount,bind,ro", path]) == 0 else {
            Host.run("/bin/umount", ["-l", path])
            throw XCTSkip("cannot remount read-only (needs root)")
        }
        return TestMount(path: path)
    }

    deinit {
        Host.run("/bin/umount", ["-l", path])
        try? FileManager.default.removeItem(atPath: path)
    }
}

extension XCTestCase {
    /// Every file under `dir` (hidden ones too) with its bytes, or nil for a directory.
    func tree(_ dir: String) -> [String: Data?] {
        var out: [String: Data?] = [:]
        for name in (try? FileManager.default.subpathsOfDirectory(atPath: dir)) ?? [] {
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: dir + "/" + name, isDirectory: &isDir)
            out[name] = isDir.boolValue ? nil : FileManager.default.contents(atPath: dir + "/" + name)
        }
        return out
    }

    /// Every region in which the two members of `disk` differ is set in member 10's bitmap
    /// (write-intent held); returns how many regions differ.
    @discardableResult
    func assertWrittenRegionsMarked(
        _ s: Scratch, _ diskName: String, size: Int, region: Int = 64 << 10,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> Int {
        let a = data(s.image(diskName, 10))
        let b = data(s.image(diskName, 11))
        let bitmap = try RDRSystem.open(at: s.system).disk(diskName, access: .readOnly).bitmap(.ten)
        var differing = 0
        for r in 0..<size / region where a[r * region..<(r + 1) * region] != b[r * region..<(r + 1) * region] {
            differing += 1
            XCTAssertTrue(bitmap.isSet(r), "region \(r) was written but its bit is not set", file: file, line: line)
        }
        return differing
    }

    /// The first stderr line of a run, which must be one `Error: …` line.
    func errorLine(_ r: RDRProcess.Result, file: StaticString = #filePath, line: UInt = #line) -> String {
        let first = r.stderr.split(separator: "\n").first.map(String.init) ?? ""
        XCTAssertTrue(first.hasPrefix("Error: "), "stderr: \(r.stderr)", file: file, line: line)
        return first
    }
}
