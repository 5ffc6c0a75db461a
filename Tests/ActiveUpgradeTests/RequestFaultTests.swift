import RDRTestSupport
import XCTest

@testable import ActiveUpgrade
@testable import RDR

/// Every engine call an upgrade request makes, failed in turn: the request goes Broken with the
/// error, and `retry` on a healthy system completes it with the same bytes as a clean session.
final class RequestFaultTests: XCTestCase {
    /// Runs split, writes, merge and commit with `sys` under the request named `faulty`, then
    /// completes the session with real syscalls; returns the final member images.
    func session(faulty: UserRequest?, kind: SyscallKind = .pwrite, call n: Int = 0) throws -> (
        broke: Bool, fired: Bool, images: [Data]
    ) {
        let f = try UpgradeFixture()
        let sys = FaultInjectingSystemCalls(failing: kind, call: n, with: .eio)
        var broke = false
        for request in [UserRequest.split, .merge, .commit, .finish] {
            if request == .merge {
                try f.write("boot", .upgrade, offset: 0, seed: 1)
                try f.write("data", .production, offset: 1 << 20, seed: 2)
            }
            do {
                let system =
                    request == faulty
                    ? try RDRSystem.open(at: f.system.path, sys: sys) : try RDRSystem.open(at: f.system.path)
                let controller = UpgradeController(system: system, command: "test") { s in
                    for d in s.manifest.disks {
                        let disk = try s.disk(d.name)
                        if disk.record.mode == .resyncing, let src = disk.record.resyncSource {
                            _ = try disk.resync(from: src)
                        }
                    }
                }
                try controller.perform(request)
            } catch {
                broke = true
                XCTAssertTrue("\(error)".contains("Input/output error"), "\(request) \(kind) #\(n): \(error)")
                // Broken: retry it. Ready in the request's own end state: the fault hit the directory
                // fsync after the final save landed. Ready before it: the fault hit the first save.
                let s = try f.controller.store.current()
                let done: [UserRequest: UpgradeState] = [
                    .split: .split, .merge: .merge, .commit: .commit, .finish: .idle,
                ]
                if s.operationalState == .broken {
                    try f.controller.perform(.retry)
                } else if s.upgradeState != done[request] {
                    try f.controller.perform(request)
                }
            }
        }
        // Any resync left unfinished by a fault is resumed.
        for d in f.system.manifest.disks {
            let disk = try RDRSystem.open(at: f.system.path).disk(d.name)
            if disk.record.mode == .resyncing, let src = disk.record.resyncSource { _ = try disk.resync(from: src) }
        }
        XCTAssertEqual(try f.controller.store.current().upgradeState, .idle)
        return (broke, sys.fired, [f.image("boot", 10), f.image("boot", 11), f.image("data", 10), f.image("data", 11)])
    }

    func testEveryEngineCallOfEachRequestFailedInTurn() throws {
        let reference = try session(faulty: nil).images
        XCTAssertEqual(reference[0], reference[1])
        var points = 0
        var broken = 0
        for request in [UserRequest.split, .merge, .commit] {
            for kind in [SyscallKind.pwrite, .fdatasync, .fsync, .pread, .rename] {
                var n = 1
                while n < 200 {
                    let r = try session(faulty: request, kind: kind, call: n)
                    if !r.fired { break }
                    points += 1
                    if r.broke { broken += 1 }
                    XCTAssertTrue(
                        r.images == reference,
                        "\(request) with \(kind) #\(n) failed then retried ends with different bytes")
                    n += 1
                }
            }
        }
        XCTAssertGreaterThan(points, 20)
        XCTAssertGreaterThan(broken, 10)
        print("upgrade request fault sweep: \(points) fault points, \(broken) stopped the request, 0 mismatches")
    }
}
