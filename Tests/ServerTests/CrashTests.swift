import Foundation
import Glibc
import XCTest

/// kill -9 of `rdr serve` in the middle of an fio write load with periodic flushes, beside a
/// client that logs what the server acknowledged: after a restart every write answered before
/// the last answered FLUSH is on both members, `status` reports `Resync needed` for the
/// interrupted duplex writes, and a resync makes the members identical.
final class ServeCrashTests: XCTestCase {
    struct Acked {
        var writes: [(offset: UInt64, data: [UInt8])] = []
        /// How many of `writes` were answered before the last answered FLUSH.
        var durable = 0
    }

    func testKillDuringAWriteLoadLosesNoFlushedWrite() throws {
        try Tools.require("fio")
        let dir = NSTemporaryDirectory() + "rdr-crash-" + UUID().uuidString.prefix(8)
        try ServeProcess.initSystem(dir, disks: ["boot:64M:mandatory"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let serve = try ServeProcess(system: dir)
        // The load: fio on the upper half, flushing every 32 writes.
        let (fio, fioOut, fioErr) = try Tools.start(
            "fio",
            [
                "--name=load", "--ioengine=nbd", "--uri=\(serve.uri("boot"))", "--rw=randwrite", "--bs=4k",
                "--offset=32m", "--size=32m", "--iodepth=16", "--fsync=32", "--time_based", "--runtime=60",
            ])
        // The oracle: distinct 4 KiB blocks on the lower half, a FLUSH after every 8.
        let acked = try writeUntilKilled(serve, after: 40)
        let fioResult = Tools.finish(fio, fioOut, fioErr)
        XCTAssertNotEqual(fioResult.status, 0, "fio ran to its end: the server was not killed under load")
        XCTAssertGreaterThan(acked.durable, 0)
        for e in [10, 11] {
            let member = FileManager.default.contents(atPath: "\(dir)/boot-\(e).img") ?? Data()
            for (offset, data) in acked.writes.prefix(acked.durable) {
                XCTAssertTrue(
                    member[Int(offset)..<Int(offset) + data.count].elementsEqual(data),
                    "member \(e): a write at \(offset) answered before a FLUSH is missing")
            }
        }
        let status = try Tools.run(Tools.rdr, ["status", "boot", "--system", dir])
        XCTAssertTrue(status.stdout.contains("Status: Resync needed"), status.output)
        let resync = try Tools.run(Tools.rdr, ["disk", "resync", "boot", "--from", "10", "--system", dir])
        XCTAssertEqual(resync.status, 0, resync.output)
        let verify = try Tools.run(Tools.rdr, ["disk", "verify", "boot", "--system", dir])
        XCTAssertEqual(verify.status, 0, verify.output)
        XCTAssertTrue(try Tools.run(Tools.rdr, ["status", "boot", "--system", dir]).stdout.contains("Status: None"))
    }

    /// Writes and flushes until the server dies; kills it with SIGKILL three writes after the
    /// `flushes`th answered FLUSH (so both the oracle and fio have unflushed writes in flight).
    private func writeUntilKilled(_ serve: ServeProcess, after flushes: Int) throws -> Acked {
        let client = try NBDTestClient(socket: serve.socket)
        try client.connect(export: "boot")
        var acked = Acked()
        var flushed = 0
        var block: UInt64 = 0
        while block < 8192 {
            let offset = block * 4096
            let data = (0..<4096).map { UInt8(truncatingIfNeeded: Int(block) &* 31 &+ $0 &+ 1) }
            guard (try? client.write(offset, data)) == .ok else { break }
            acked.writes.append((offset, data))
            block += 1
            if block % 8 == 0 {
                guard (try? client.flush()) == .ok else { break }
                acked.durable = acked.writes.count
                flushed += 1
            }
            if flushed == flushes && block % 8 == 3 { kill(serve.pid, SIGKILL) }
        }
        XCTAssertEqual(serve.stop(SIGKILL).status, SIGKILL, "the server was not killed")
        return acked
    }
}
