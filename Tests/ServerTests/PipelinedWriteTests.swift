import Foundation
import NBDWire
import XCTest

@testable import RDR
@testable import RDRServer

/// WRITEs a client sends together reach the server in one receive and are run as one batch
/// (`WriteBatch`): each must still get its own reply, and its bytes or its error.
final class PipelinedWriteTests: XCTestCase {
    /// 64 WRITEs of 4 KiB (one with FUA) in one send, to distinct offsets of a duplex disk.
    private func pipeline(_ client: NBDTestClient, count: Int, fill: (Int) -> UInt8) throws -> [UInt64: NBDErrno] {
        var bytes: [UInt8] = []
        for i in 0..<count {
            let request = NBDRequest(
                flags: i == count / 2 ? .fua : [], command: .write, cookie: UInt64(1000 + i),
                offset: UInt64(i) * 8192, length: 4096)
            bytes += request.encoded + [UInt8](repeating: fill(i), count: 4096)
        }
        try client.send(bytes)
        var replies: [UInt64: NBDErrno] = [:]
        for _ in 0..<count {
            let (cookie, error) = try client.nextReply()
            XCTAssertNil(replies[cookie], "two replies for cookie \(cookie)")
            replies[cookie] = error
        }
        return replies
    }

    func testPipelinedWritesAreEachAnsweredAndWrittenToBothMembers() throws {
        let s = try ServedSystem()
        let client = try NBDTestClient(socket: s.socket)
        try client.connect(export: "boot", structured: false)
        let replies = try pipeline(client, count: 64) { UInt8(1 + $0) }
        XCTAssertEqual(replies, Dictionary(uniqueKeysWithValues: (0..<64).map { (UInt64(1000 + $0), NBDErrno.ok) }))
        for e in [Enclosure.ten, .eleven] {
            let member = s.member("boot", e)
            for i in 0..<64 {
                XCTAssertEqual(Set(member[i * 8192..<i * 8192 + 4096]), [UInt8(1 + i)], "member \(e), write \(i)")
                XCTAssertEqual(Set(member[i * 8192 + 4096..<i * 8192 + 8192]), [0], "member \(e), gap after \(i)")
            }
        }
    }

    func testPipelinedWritesRefusedByTheModeEachGetTheirErrorAndChangeNothing() throws {
        let s = try ServedSystem()
        let client = try NBDTestClient(socket: s.socket)
        try client.connect(export: "data@upgrade", structured: true)
        try s.enter(.split)  // the Upgrade Side loses the data disk
        let before = [s.member("data", .ten), s.member("data", .eleven)]
        let replies = try pipeline(client, count: 32) { _ in 0xAB }
        XCTAssertEqual(replies, Dictionary(uniqueKeysWithValues: (0..<32).map { (UInt64(1000 + $0), NBDErrno.eperm) }))
        XCTAssertEqual([s.member("data", .ten), s.member("data", .eleven)], before)
        XCTAssertTrue(s.logLines.contains { $0.contains("requests refused with EPERM") }, "\(s.logLines)")
    }
}
