import Foundation
import NBDWire
import XCTest

@testable import RDR
@testable import RDRServer

/// Access decided at NBD_OPT_GO and again on every request: a side without access is refused
/// with NBD_REP_ERR_POLICY and the engine's message; a mode change that takes access away from
/// a connected client makes its requests fail with EPERM, logged once with the reason, and
/// nothing is written where the mirror semantics forbid.
final class AccessChangeTests: XCTestCase {
    func testGoToTheUpgradeSideOfASplitDataDiskIsRefusedWithThePolicyError() throws {
        let s = try ServedSystem()
        try s.enter(.split)
        let client = try NBDTestClient(socket: s.socket)
        do {
            try client.connect(export: "data@upgrade")
            XCTFail("GO to data@upgrade succeeded while split")
        } catch let refused as NBDTestClient.Refused {
            XCTAssertEqual(refused.type, .errPolicy)
            XCTAssertTrue(
                refused.message.contains(
                    "the Upgrade Side (enclosure 11) has no access to data disk 'data' while split"), refused.message)
        }
        // The same connection may go on with another export (the error is not fatal).
        try client.option(.go(ExportRequest(name: "data@production")))
        XCTAssertEqual(try client.write(0, [1, 2, 3]), .ok)
        XCTAssertEqual(Array(s.member("data", .ten)[0..<3]), [1, 2, 3])
        XCTAssertEqual(Array(s.member("data", .eleven)[0..<3]), [0, 0, 0])
    }

    func testAModeChangeThatTakesAccessAwayMakesRequestsFailWithEPERM() throws {
        let s = try ServedSystem()
        let client = try NBDTestClient(socket: s.socket)
        try client.connect(export: "data@upgrade", structured: false)
        XCTAssertEqual(try client.write(4096, [7, 7, 7, 7]), .ok, "duplex: every side writes")
        XCTAssertEqual(try client.flush(), .ok)  // split refuses a disk with duplex bits set
        try s.disk("data").split()  // as a forwarded `rdr disk split` will, under the connected client
        let before = [s.member("data", .ten), s.member("data", .eleven)]
        XCTAssertEqual(try client.write(8192, [9, 9]), .eperm)
        XCTAssertEqual(try client.read(0, 512).0, .eperm)
        XCTAssertEqual(try client.call(.writeZeroes, offset: 0, length: 4096).0, .eperm)
        XCTAssertEqual(try client.call(.trim, offset: 0, length: 4096).0, .eperm)
        XCTAssertEqual(
            [s.member("data", .ten), s.member("data", .eleven)], before, "a refused request changed a member")
        let refusals = s.logLines.filter { $0.contains("refused with EPERM") }
        XCTAssertEqual(refusals.count, 1, "one log line per reason: \(s.logLines)")
        XCTAssertTrue(
            refusals.first?.contains("data@upgrade") == true
                && refusals.first?.contains("no access to data disk 'data' while split") == true, "\(refusals)")
        // A system disk keeps both sides while split; its Production Side stops at merge.
        let boot = try NBDTestClient(socket: s.socket)
        try boot.connect(export: "boot")
        try s.disk("boot").split()
        XCTAssertEqual(try boot.write(0, [5]), .ok)
        try s.disk("boot").merge()
        XCTAssertEqual(try boot.write(0, [6]), .eperm)
        XCTAssertEqual(s.member("boot", .ten)[0], 5)
    }

    /// FLUSH reaches every member (CAN_MULTI_CONN): a write answered on one connection is
    /// durable after a FLUSH on another, and both see the same bytes.
    func testFlushOnOneConnectionCoversWritesOfAnother() throws {
        let s = try ServedSystem()
        let a = try NBDTestClient(socket: s.socket)
        let b = try NBDTestClient(socket: s.socket)
        try a.connect(export: "boot")
        try b.connect(export: "boot@11")
        XCTAssertTrue(a.flags.contains(.canMultiConn))
        XCTAssertEqual(try a.write(65536, [UInt8](repeating: 0xAB, count: 4096)), .ok)
        XCTAssertEqual(try b.flush(), .ok)
        XCTAssertEqual(try b.read(65536, 4096).1, [UInt8](repeating: 0xAB, count: 4096))
        // Flushed duplex writes leave no bit behind: the members are in sync again.
        XCTAssertTrue(try s.disk("boot").bitmap(.ten).isEmpty)
        XCTAssertTrue(try s.disk("boot").bitmap(.eleven).isEmpty)
    }
}
