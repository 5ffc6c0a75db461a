import Foundation
import XCTest

/// The NBD conformance script (Tests/nbd, written from proto.md) against `rdr serve`, with
/// `--strict`: every SHOULD of the spec it checks counts as a MUST here.
final class ConformanceTests: XCTestCase {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("nbd/conformance.py").path

    func testConformanceStrictOnEveryKindOfExport() throws {
        try Tools.require("python3")
        let dir = NSTemporaryDirectory() + "rdr-conf-" + UUID().uuidString.prefix(8)
        try ServeProcess.initSystem(dir, disks: ["boot:64M:mandatory", "data:64M:data"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Default cap (128): the stress checks' 200 clients that hang up with READs in flight, in
        // a tight loop, must be counted out as they go (LimitsTests has the deterministic case).
        let serve = try ServeProcess(system: dir)
        for export in ["boot", "data@11"] {
            let r = try Tools.run(
                "python3",
                [Self.script, "--unix", serve.socket, "--export", export, "--writable", "--strict", "--seed", "11"])
            XCTAssertEqual(
                r.status, 0,
                "\(export):\n\(r.stdout.split(separator: "\n").filter { !$0.hasPrefix("PASS") }.joined(separator: "\n"))"
            )
            XCTAssertTrue(r.stdout.contains(" 0 failed"), r.stdout)
        }
        XCTAssertEqual(serve.stop().status, 0)
        let readOnly = try ServeProcess(system: dir, arguments: ["--read-only"])
        let r = try Tools.run(
            "python3", [Self.script, "--unix", readOnly.socket, "--export", "boot@upgrade", "--strict", "--quick"])
        XCTAssertEqual(r.status, 0, r.stdout)
        XCTAssertTrue(r.stdout.contains("PASS err.read-only"), r.stdout)
        XCTAssertEqual(readOnly.stop().status, 0)
    }
}
