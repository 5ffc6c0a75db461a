import Foundation
import Glibc
import NBDWire
import XCTest

@testable import RDR
@testable import RDRServer

/// The caps that bound what a client can take: connections at once, time to negotiate, and
/// the budget of a client that sends requests without reading the replies.
final class LimitsTests: XCTestCase {
    /// Reads until the server closes (true) or `seconds` pass (false).
    private func closedByServer(_ client: NBDTestClient, within seconds: Int) -> Bool {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(client.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    func testConnectionsPastTheCapAreClosedAndOthersKeepWorking() throws {
        var configuration = ServerConfiguration()
        configuration.maxConnections = 2
        let s = try ServedSystem(configuration: configuration)
        let a = try NBDTestClient(socket: s.socket)
        let b = try NBDTestClient(socket: s.socket)
        try a.connect(export: "boot")
        try b.connect(export: "data")
        let c = try NBDTestClient(socket: s.socket)
        XCTAssertTrue(closedByServer(c, within: 10), "a third connection was served past --max-connections 2")
        XCTAssertEqual(try a.write(0, [1]), .ok)
        XCTAssertEqual(try b.read(0, 1).0, .ok)
        XCTAssertTrue(s.logLines.contains { $0.contains("too many connections") }, "\(s.logLines)")
        a.disconnect()
        let deadline = Date().addingTimeInterval(10)
        while s.server.connectionCount > 1 && Date() < deadline { usleep(10_000) }
        let d = try NBDTestClient(socket: s.socket)
        try d.connect(export: "boot")
        XCTAssertEqual(try d.read(0, 1).1, [1])
    }

    /// 128 clients (the default cap) hang up with 16 READs of 16 MiB each in flight (32 GiB to
    /// read, with one worker: seconds of work); the next client is served at once, not closed
    /// as one too many: the hung-up connections are cut and counted out instead of holding
    /// their places while their reads are carried out.
    func testClientsThatHungUpWithReadsInFlightDoNotHoldTheCap() throws {
        var configuration = ServerConfiguration()
        configuration.workerThreads = 1
        let s = try ServedSystem(configuration: configuration)
        let cap = configuration.maxConnections
        var reads: [UInt8] = []
        for i in 0..<16 { reads += NBDRequest(command: .read, cookie: UInt64(i), offset: 0, length: 16 << 20).encoded }
        var hungUp: [NBDTestClient] = []
        for i in 0..<cap {
            let c = try NBDTestClient(socket: s.socket)
            try c.connect(export: i % 2 == 0 ? "boot" : "data", structured: i % 3 == 0)
            try c.send(reads)
            hungUp.append(c)
        }
        hungUp.removeAll()  // closes every socket, replies unread
        let next = try NBDTestClient(socket: s.socket)
        try next.connect(export: "boot")
        XCTAssertEqual(try next.write(0, [7]), .ok)
        XCTAssertEqual(try next.read(0, 1).1, [7])
        XCTAssertFalse(s.logLines.contains { $0.contains("too many connections") }, "\(s.logLines)")
    }

    func testANegotiationThatStallsIsClosedAtTheHandshakeTimeout() throws {
        var configuration = ServerConfiguration()
        configuration.handshakeTimeout = 1.5
        let s = try ServedSystem(configuration: configuration)
        let idle = try NBDTestClient(socket: s.socket)
        XCTAssertTrue(closedByServer(idle, within: 10))
        XCTAssertTrue(s.logLines.contains { $0.contains("option haggling took longer than 1.5 s") }, "\(s.logLines)")
        // Once in transmission, a client may idle as long as it likes.
        let working = try NBDTestClient(socket: s.socket)
        try working.connect(export: "boot")
        usleep(2_000_000)
        XCTAssertEqual(try working.read(0, 512).0, .ok)
    }

    /// A client that pipelines reads and never reads a reply holds at most its own budget:
    /// the server stops reading it, and another client is served meanwhile.
    func testAClientThatStopsReadingHoldsOnlyItsBudget() throws {
        var configuration = ServerConfiguration()
        configuration.connectionRequests = 8
        configuration.connectionBytes = 1 << 20
        let s = try ServedSystem(configuration: configuration)
        let greedy = try NBDTestClient(socket: s.socket)
        try greedy.connect(export: "boot", structured: false)
        var requests: [UInt8] = []
        for i in 0..<40000 {
            requests += NBDRequest(command: .read, cookie: UInt64(i), offset: 0, length: 1 << 20).encoded
        }
        var nonBlocking = fcntl(greedy.fd, F_GETFL)
        nonBlocking |= O_NONBLOCK
        _ = fcntl(greedy.fd, F_SETFL, nonBlocking)
        var sent = 0
        let deadline = Date().addingTimeInterval(2)
        while sent < requests.count && Date() < deadline {
            let n = requests.withUnsafeBytes {
                send(greedy.fd, $0.baseAddress! + sent, requests.count - sent, Int32(MSG_NOSIGNAL))
            }
            if n > 0 { sent += n } else { usleep(10_000) }
        }
        XCTAssertLessThan(sent, requests.count, "the server read every request although no reply was read")
        let other = try NBDTestClient(socket: s.socket)
        try other.connect(export: "boot")
        XCTAssertEqual(try other.write(4096, [9]), .ok)
        XCTAssertEqual(try other.read(4096, 1).1, [9])
        let inFlight = s.server.core.budget.inFlight
        XCTAssertLessThanOrEqual(inFlight.requests, 8)
        XCTAssertLessThanOrEqual(inFlight.bytes, 2 << 20)
    }
}
