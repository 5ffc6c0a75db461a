import Foundation
import NBDWire
import XCTest

@testable import RDR
@testable import RDRServer

/// Random bytes thrown at live connections (during the handshake and after GO) close those
/// connections only: another client keeps reading and writing, the server keeps accepting, and
/// the member files hold exactly what the well-behaved client wrote.
final class HostileClientTests: XCTestCase {
    func testRandomBytesCloseOnlyTheirConnection() throws {
        let s = try ServedSystem()
        let good = try NBDTestClient(socket: s.socket)
        try good.connect(export: "boot")
        var model = MemberModel(size: Int(ServedSystem.diskSize))
        var rng = SystemRandomNumberGenerator()
        for round in 0..<60 {
            let hostile = try NBDTestClient(socket: s.socket)
            if round % 2 == 1 { try hostile.connect(export: "boot@upgrade", structured: round % 4 == 1) }
            let garbage = (0..<Int.random(in: 1...8192, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng)
            }
            try? hostile.send(garbage)
            let offset = round * 8192
            let value = UInt8(truncatingIfNeeded: round + 1)
            XCTAssertEqual(
                try good.write(UInt64(offset), [UInt8](repeating: value, count: 8192)), .ok, "round \(round)")
            model.fill(offset, 8192, value)
            XCTAssertEqual(
                try good.read(UInt64(offset), 8192).1, [UInt8](repeating: value, count: 8192), "round \(round)")
        }
        XCTAssertEqual(try good.flush(), .ok)
        // Random bytes may happen to form a valid request; that is the one thing they could
        // change, and only after a GO, which the handshake-phase half never reaches. A
        // random 28-byte header starting with the request magic is a 2^-32 event per try.
        XCTAssertTrue(s.member("boot", .ten) == model.bytes, "member 10 holds bytes the good client did not write")
        XCTAssertTrue(s.member("boot", .eleven) == model.bytes, "member 11 holds bytes the good client did not write")
        let late = try NBDTestClient(socket: s.socket)
        try late.connect(export: "boot")
        XCTAssertEqual(try late.read(0, 8192).1, [UInt8](repeating: 1, count: 8192))
        XCTAssertTrue(s.logLines.contains { $0.contains("connection closed") }, "\(s.logLines.prefix(5))")
    }
}
