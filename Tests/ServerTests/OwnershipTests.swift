import Foundation
import Glibc
import Synchronization
import XCTest

@testable import RDR

/// The owner side inside RDR: one shared disk per disk, the in-process lock forwarded commands
/// take, and one resync per disk at a time.
final class OwnershipTests: XCTestCase {
    private var path = ""
    private var owner: OwnedSystem?
    private var ownerLock: SystemLock?

    override func setUpWithError() throws {
        path = NSTemporaryDirectory() + "rdr-own-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let system = try RDRSystem.create(
            at: path,
            disks: [
                DiskSpec(name: "boot", size: 4 << 20, role: .mandatory, regionSize: 64 << 10)
            ], primary: .ten, force: false)
        let lock = try system.lock(command: "rdr serve (test)")
        ownerLock = lock
        owner = try SystemOwnership.shared.register(system, lock: lock)
    }

    override func tearDown() {
        owner?.resign()
        ownerLock?.release()
        try? FileManager.default.removeItem(atPath: path)
    }

    func testEveryOpenOfAnOwnedSystemSharesOneDiskPerDisk() throws {
        let link = path + "-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        defer { try? FileManager.default.removeItem(atPath: link) }
        let a = try RDRSystem.open(at: path).disk("boot")
        let b = try RDRSystem.open(at: link).disk("boot")
        XCTAssertTrue(a === b, "two opens of one owned system must share the disk (range locks coordinate them)")
        XCTAssertTrue(try owner!.disk(named: "boot") === a)
        // A look that cannot write gets its own instance, as before.
        XCTAssertFalse(try RDRSystem.open(at: path).disk("boot", access: .readOnly) === a)
        owner?.resign()
        owner = nil
        XCTAssertFalse(try RDRSystem.open(at: path).disk("boot") === a, "after resigning, opens are separate again")
    }

    func testForwardedCommandsTakeTheLockOneAtATimeInProcess() throws {
        let system = try RDRSystem.open(at: path)
        let first = try system.lock(command: "rdr write boot 0 x")
        XCTAssertTrue(first.isInProcess)
        XCTAssertEqual(SystemLock.holder(systemPath: path, sys: system.sys)?.contains("'rdr write boot 0 x'"), true)
        XCTAssertThrowsError(try system.lock(command: "rdr disk split")) { error in
            let e = error as? RDRError
            XCTAssertEqual(e?.kind, .busy)
            XCTAssertEqual(
                e?.message.contains("is busy: pid \(getpid()) is running 'rdr write boot 0 x'"), true,
                "\(String(describing: e?.message))")
        }
        XCTAssertThrowsError(try system.readLock(command: "rdr disk verify boot")) {
            XCTAssertEqual(($0 as? RDRError)?.kind, .busy)
        }
        first.release()
        first.release()  // a second release must not free a lock someone else took meanwhile
        XCTAssertNil(SystemLock.holder(systemPath: path, sys: system.sys))
        let readers = try [system.readLock(command: "verify 1"), system.readLock(command: "verify 2")]
        XCTAssertThrowsError(try system.lock(command: "rdr disk merge")) {
            XCTAssertEqual(($0 as? RDRError)?.kind, .busy)
        }
        for reader in readers { reader?.release() }
        try system.lock(command: "rdr disk merge").release()
        // The owner's own flock is untouched by all of this: still held, by the owner.
        XCTAssertEqual(
            system.sys.flock(
                try FileDescriptor.open(path + "/" + SystemLock.fileName, .readOnly, sys: system.sys).rawValue,
                LOCK_SH | LOCK_NB), -EWOULDBLOCK)
    }

    func testOtherLockFilesStillExcludeWithinTheProcess() throws {
        let system = try RDRSystem.open(at: path)
        let session = try SystemLock.acquire(
            systemPath: path, fileName: ".session.lock", command: "rdr commit", sys: system.sys)
        defer { session.release() }
        XCTAssertFalse(session.isInProcess)
        XCTAssertThrowsError(
            try SystemLock.acquire(systemPath: path, fileName: ".session.lock", command: "rdr abort", sys: system.sys)
        ) {
            XCTAssertEqual(($0 as? RDRError)?.message.contains("'rdr commit'"), true)
        }
    }

    func testOneResyncPerDiskInTheOwner() throws {
        let disk = try RDRSystem.open(at: path).disk("boot")
        try disk.split()
        try disk.write(side: .side(.upgrade), offset: 0, bytes: [1, 2, 3])
        try owner!.beginResync(disk: "boot", from: .eleven, cancellation: nil)
        XCTAssertThrowsError(try disk.resync(from: .eleven)) { error in
            XCTAssertEqual((error as? RDRError)?.kind, .busy)
            XCTAssertEqual((error as? RDRError)?.message.contains("already being resynced from 11"), true)
        }
        XCTAssertThrowsError(try disk.resync(from: .ten)) { XCTAssertEqual(($0 as? RDRError)?.kind, .invalidState) }
        XCTAssertEqual(owner!.runningResyncs, ["boot"])
        owner!.endResync(disk: "boot")
        let summary = try disk.resync(from: .eleven)
        XCTAssertGreaterThan(summary.bytesPlanned, 0)
        XCTAssertEqual(owner!.runningResyncs, [])
        XCTAssertEqual(try disk.read(side: .side(.production), offset: 0, length: 3), [1, 2, 3])
    }

    func testAnOwnerWaitsForItsResyncsAndClients() throws {
        let o = owner!
        try o.beginResync(disk: "boot", from: .ten, cancellation: nil)
        o.clientConnected(true)
        let ended = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            o.waitUntilIdle(unless: CancellationFlag())
            ended.signal()
        }
        o.endResync(disk: "boot")
        XCTAssertEqual(ended.wait(timeout: .now() + 0.3), .timedOut, "a connected client keeps the owner")
        o.clientConnected(false)
        XCTAssertEqual(ended.wait(timeout: .now() + 10), .success)
    }

    func testInterruptedResyncsResumeAsThreadsOfTheOwner() throws {
        let disk = try RDRSystem.open(at: path).disk("boot")
        try disk.split()
        try disk.write(side: .side(.upgrade), offset: 70_000, bytes: [9, 8, 7])
        try disk.beginResync(from: .eleven)  // what commit leaves for a background worker
        let jobs = try owner!.interruptedResyncs()
        XCTAssertEqual(jobs.map(\.0), ["boot"])
        XCTAssertEqual(jobs.map(\.1), [.eleven])
        let reported = Mutex<[String]>([])
        try owner!.startBackgroundResyncs(jobs, options: ResyncOptions()) { name, outcome in
            reported.withLock {
                $0.append("\(name): \((try? outcome.get()).map { "\($0.source)->\($0.target)" } ?? "failed")")
            }
        }
        owner!.waitUntilIdle(unless: CancellationFlag())
        XCTAssertEqual(reported.withLock { $0 }, ["boot: 11->10"])
        XCTAssertEqual(disk.record.mode, .duplex)
        XCTAssertEqual(try disk.read(side: .side(.production), offset: 70_000, length: 3), [9, 8, 7])
        XCTAssertTrue(try owner!.interruptedResyncs().isEmpty)
    }

    func testASecondRegistrationIsRefused() throws {
        let system = try RDRSystem.open(at: path)
        XCTAssertThrowsError(try SystemOwnership.shared.register(system, lock: ownerLock!)) {
            XCTAssertEqual(($0 as? RDRError)?.kind, .busy)
        }
    }
}
