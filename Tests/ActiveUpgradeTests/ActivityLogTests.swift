import Foundation
import XCTest

@testable import ActiveUpgrade

/// The activity log file: ids unique across writers, torn lines counted and never swallowing a
/// record, details bounded, text safe for a terminal.
final class ActivityLogTests: XCTestCase {
    func testTornLineAndSecondWriter() throws {
        let dir = NSTemporaryDirectory() + "rdr-log-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = ActivityLog(systemPath: dir)
        let first = a.add(.information, "first")
        // A writer killed mid-line, then another process's entry.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: a.path))
        handle.seekToEndOfFile()
        handle.write(Data("{\"entry\": {\"id\": 9".utf8))
        try handle.close()
        let other = ActivityLog(systemPath: dir).add(.warning, "other")
        let next = a.add(.success, "next", detail: String(repeating: "x", count: 200_000))
        let (entries, unreadable) = ActivityLog.readCounting(a.path)
        XCTAssertEqual(entries.map(\.message), ["first", "other", "next"])
        XCTAssertEqual(Set([first, other, next]).count, 3, "ids stay unique across writers")
        XCTAssertEqual(unreadable, 1, "the torn line is counted, and the next record is whole")
        XCTAssertLessThan(entries[2].detail?.utf8.count ?? 0, 100_000, "details are bounded")
        XCTAssertEqual(LogFormat.printable("a\u{1B}[2Jb\u{7}\tc\u{9B}"), "a\\x1b[2Jb\\x07\tc\\x9b")
    }
}
