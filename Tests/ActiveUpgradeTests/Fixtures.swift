import Foundation
import XCTest

@testable import ActiveUpgrade
@testable import RDR

/// A temporary system with the healthy machine model, and a controller whose "background"
/// resyncs run in-process to completion.
final class UpgradeFixture {
    let dir: String
    var system: RDRSystem
    let controller: UpgradeController

    init() throws {
        dir = NSTemporaryDirectory() + "rdr-au-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        system = try RDRSystem.create(
            at: dir + "/sys",
            disks: [
                DiskSpec(name: "boot", size: 4 << 20, role: .mandatory),
                DiskSpec(name: "data", size: 4 << 20, role: .data),
            ],
            primary: .ten, force: false)
        try SystemModel.healthy.save(system)
        controller = UpgradeController(system: system, command: "test") { system in
            for d in system.manifest.disks {
                let disk = try system.disk(d.name)
                if disk.record.mode == .resyncing, let s = disk.record.resyncSource { _ = try disk.resync(from: s) }
            }
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func image(_ disk: String, _ e: Int) -> Data {
        FileManager.default.contents(atPath: "\(dir)/sys/\(disk)-\(e).img") ?? Data()
    }

    /// Writes a configuration file into the fixture directory and returns its path.
    @discardableResult
    func config(_ name: String, _ json: String) -> String {
        let path = dir + "/" + name
        try? json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// An executable script that records its environment and arguments into `record`.
    func recorder(_ name: String, exit code: Int = 0) -> String {
        let path = dir + "/" + name
        let script = """
            #!/bin/sh
            echo "$ACTIVE_UPGRADE_SIDE $ACTIVE_UPGRADE_STATE $ACTIVE_UPGRADE_REQUEST $ACTIVE_UPGRADE_HW_SPLIT args=$*" >> "\(dir)/record.txt"
            echo "out from \(name)"
            echo "err from \(name)" >&2
            exit \(code)

            """
        try? script.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    var recorded: [String] {
        (try? String(contentsOfFile: dir + "/record.txt", encoding: .utf8))?.split(separator: "\n").map(String.init)
            ?? []
    }

    func write(_ disk: String, _ side: Side, offset: Int64, seed: UInt64) throws {
        let lock = try system.lock(command: "test write")
        defer { lock.release() }
        try system.disk(disk).write(
            side: .side(side), offset: offset, bytes: Pattern.bytes(count: 65536, seed: seed, offset: offset))
    }
}

func XCTAssertRefused(_ text: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected a refusal containing '\(text)'", file: file, line: line)
    } catch let e as RDRError {
        XCTAssertTrue(e.message.contains(text), "'\(e.message)' lacks '\(text)'", file: file, line: line)
    } catch {
        XCTFail("\(error)", file: file, line: line)
    }
}
