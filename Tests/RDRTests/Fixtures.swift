import Foundation
import XCTest

@testable import RDR

/// A temporary system directory, removed at the end of the test.
final class TempSystem {
    let path: String
    let system: RDRSystem

    init(
        disks: [DiskSpec] = [
            DiskSpec(name: "boot", size: 8 << 20, role: .mandatory, regionSize: 64 << 10),
            DiskSpec(name: "data", size: 8 << 20, role: .data, regionSize: 64 << 10),
        ],
        primary: Enclosure = .ten, under root: String = NSTemporaryDirectory()
    ) throws {
        path = root + "rdr-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        system = try RDRSystem.create(at: path, disks: disks, primary: primary, force: false)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func reopen() throws -> RDRSystem { try RDRSystem.open(at: path) }

    func image(_ disk: String, _ e: Enclosure) -> String { "\(path)/\(disk)-\(e).img" }
    func metadata(_ disk: String, _ e: Enclosure) -> String { "\(path)/\(disk)-\(e).rdrmeta" }
}

func contents(_ path: String) -> Data { FileManager.default.contents(atPath: path) ?? Data() }

/// Allocated bytes of a file (st_blocks × 512): how sparse it is.
func allocated(_ path: String) -> Int64 {
    var st = stat()
    return stat(path, &st) == 0 ? Int64(st.st_blocks) * 512 : -1
}

/// True when [offset, offset + length) of the file is entirely a hole.
func isHole(_ path: String, offset: Int64, length: Int64) -> Bool {
    guard let fd = try? FileDescriptor.open(path, .readOnly, sys: LinuxSystemCalls()) else { return false }
    defer { fd.close() }
    guard let next = try? fd.nextData(from: offset) else { return true }
    return next >= offset + length
}

func pattern(_ count: Int, seed: UInt64, offset: Int64 = 0) -> [UInt8] {
    Pattern.bytes(count: count, seed: seed, offset: offset)
}

func XCTAssertThrowsRDR(
    _ kind: RDRError.Kind, containing text: String, file: StaticString = #filePath, line: UInt = #line,
    _ body: () throws -> Void
) {
    do {
        try body()
        XCTFail("expected an error containing '\(text)'", file: file, line: line)
    } catch let e as RDRError {
        XCTAssertEqual(e.kind, kind, "\(e.message)", file: file, line: line)
        XCTAssertTrue(e.message.contains(text), "message '\(e.message)' lacks '\(text)'", file: file, line: line)
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}
