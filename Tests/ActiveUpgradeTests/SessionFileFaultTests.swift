import RDRTestSupport
import XCTest

@testable import ActiveUpgrade
@testable import RDR

/// The session's own files under faults: every write of `session.json` (its temporary file, the
/// rename, the directory sync), every activity log append, the staging copies of the
/// configuration, the runner record, the log backup and the manifest (`rdr.json`, rewritten when
/// the configuration's disk selection is applied at split and the saved roles are put back at
/// finish), failed in turn (EIO, ENOSPC, a short
/// write) and, separately, cut by a power failure. Whatever the fault, the session can be retried
/// or aborted to a clean end with the right bytes: it never becomes unreadable or stuck.
final class SessionFileFaultTests: XCTestCase {
    /// `RDR_RELIABILITY_LONG=1` (`Tests/reliability.sh --long`, whose filter matches `FaultSweep`):
    /// every call of every kind instead of a spread of four, and five times the power cuts.
    static let long = ProcessInfo.processInfo.environment["RDR_RELIABILITY_LONG"] == "1"
    static let faultBudget = long ? Int.max : 4
    static let cutBudget = long ? 60 : 12

    /// The plan a run follows; the images are written to both sides after the split.
    enum Plan {
        /// split, merge, commit, finish; a stopped request is retried.
        case commit
        /// split, merge, abort, finish; a stopped split, merge or abort is aborted.
        case abort

        var requests: [UserRequest] {
            self == .commit ? [.split, .merge, .commit, .finish] : [.split, .merge, .abort, .finish]
        }
    }

    /// What a run saw, and the member images at its end.
    struct Outcome {
        var stopped = false
        var wrote = false
        var images: [Data] = []
    }

    enum Fault {
        case inject(SyscallKind, Int, InjectedFault)
        case powerCut(after: Int, PowerCutSystemCalls.CrashMode)
    }

    /// The files a session writes, as the fault layer sees them.
    static func sessionFiles(_ f: UpgradeFixture) -> @Sendable (String) -> Bool {
        let system = f.system.path
        let backup = f.dir + "/logbackup"
        return { p in
            p == system || p.hasPrefix(system + "/session") || p.hasPrefix(system + "/activity.log")
                || p.hasPrefix(system + "/.session.runner") || p.hasPrefix(system + "/rdr.json")
                || p.hasPrefix(backup)
        }
    }

    static func fixture() throws -> UpgradeFixture {
        let f = try UpgradeFixture()
        try "event log".write(toFile: f.dir + "/System.evtx", atomically: true, encoding: .utf8)
        f.config(
            "u.Config",
            """
            { "title": "u", "services": ["appdb"], "disks": { "data": "data" },
              "logBackup": { "stagingDirectory": "\(f.dir)/logbackup", "logs": ["\(f.dir)/System.evtx"] } }
            """)
        return f
    }

    /// Runs `plan` with `sys` under request `faulty`, resolves whatever the fault left, and goes on.
    func run(_ plan: Plan, faulty: UserRequest?, _ fault: Fault?, dryCounts: ((any SystemCalls) -> Void)? = nil) throws
        -> Outcome
    {
        let f = try Self.fixture()
        var out = Outcome()
        var aborted = false
        for request in plan.requests where !aborted || request == .finish {
            if request == .merge && !out.wrote {
                try f.write("boot", .upgrade, offset: 0, seed: 1)
                try f.write("data", .production, offset: 1 << 20, seed: 2)
                out.wrote = true
            }
            let sys = request == faulty ? Self.layer(fault, f) : nil
            var stoppedHere = false
            do {
                try controller(f, sys).perform(request, configPath: request == .split ? f.dir + "/u.Config" : nil)
                if let sys { dryCounts?(sys) }
            } catch {
                stoppedHere = true
            }
            // A cut after the last call that mattered still loses what was not synced.
            if case .powerCut(let after, let mode) = fault, let cut = sys as? PowerCutSystemCalls, cut.callCount > after
            {
                cut.crash(mode)
                stoppedHere = true
            }
            guard stoppedHere else { continue }
            out.stopped = true
            let rollBack = plan == .abort && request != .finish
            try resolve(f, request, abort: rollBack, "\(plan) \(request) \(String(describing: fault))")
            aborted = rollBack
            if try rollBack && f.controller.store.current().upgradeState == .idle { break }
        }
        out.images = [f.image("boot", 10), f.image("boot", 11), f.image("data", 10), f.image("data", 11)]
        XCTAssertEqual(try f.controller.store.current().upgradeState, .idle)
        return out
    }

    static func layer(_ fault: Fault?, _ f: UpgradeFixture) -> any SystemCalls {
        switch fault {
        case .inject(let kind, let n, let how)?:
            return FaultInjectingSystemCalls(failing: kind, call: n, with: how, paths: sessionFiles(f))
        case .powerCut(let after, _)?:
            return PowerCutSystemCalls(cutAfter: after)
        case nil:
            return FaultInjectingSystemCalls(paths: sessionFiles(f))
        }
    }

    func controller(_ f: UpgradeFixture, _ sys: (any SystemCalls)?) throws -> UpgradeController {
        let system = try sys.map { try RDRSystem.open(at: f.system.path, sys: $0) } ?? RDRSystem.open(at: f.system.path)
        return UpgradeController(system: system, command: "test") { s in
            for d in s.manifest.disks {
                let disk = try s.disk(d.name)
                if disk.record.mode == .resyncing, let src = disk.record.resyncSource { _ = try disk.resync(from: src) }
            }
        }
    }

    /// With real calls, what a user does after the fault: retry the request (or issue it again
    /// when it never started), or abort it. The session must always allow one of them.
    func resolve(_ f: UpgradeFixture, _ request: UserRequest, abort: Bool, _ label: String) throws {
        let done: [UserRequest: UpgradeState] = [
            .split: .split, .merge: .merge, .commit: .commit, .abort: .abort, .finish: .idle,
        ]
        var last = ""
        for _ in 0..<5 {
            let s = try f.controller.store.current()  // never unreadable
            if s.operationalState == .ready
                && (s.upgradeState == (abort ? .abort : done[request]) || (abort && s.upgradeState == .idle))
            {
                return
            }
            let next: UserRequest
            if abort {
                // An abort that broke is retried ('abort' is what it already is).
                next = s.operationalState == .broken && !s.allowedRequests.contains(.abort) ? .retry : .abort
            } else {
                next = s.operationalState == .broken && !s.interrupted ? .retry : request
            }
            do {
                try f.controller.perform(
                    next, configPath: next == .split ? f.dir + "/u.Config" : nil,
                    options: RequestOptions(autoRecover: abort ? .abort : .retry))
            } catch {
                last = "\(next): \(error)"
            }
        }
        XCTFail("\(label): the session could not be \(abort ? "aborted" : "retried") to its end (\(last))")
    }

    /// Calls on the session's files per kind, for each request of `plan` (a dry run).
    func counts(_ plan: Plan) throws -> [UserRequest: [SyscallKind: Int]] {
        var out: [UserRequest: [SyscallKind: Int]] = [:]
        for request in plan.requests {
            _ = try run(plan, faulty: request, nil) { sys in
                out[request] = (sys as? FaultInjectingSystemCalls)?.callCounts ?? [:]
            }
        }
        return out
    }

    /// At most `budget` call numbers out of 1...count, evenly spread, first and last included.
    static func points(_ count: Int, budget: Int) -> [Int] {
        guard count > budget else { return Array(1...max(count, 1)) }
        return (0..<budget).map { 1 + $0 * (count - 1) / (budget - 1) }
    }

    /// The sweep reaches the manifest: split applies the disk selection and finish restores the
    /// saved roles, each through an atomic replacement of `rdr.json` (write, sync, rename); the
    /// manifest's sections change on other requests too.
    func testManifestWritesAreAmongTheSweptCalls() throws {
        let f = try Self.fixture()
        let manifest = f.system.path + "/rdr.json"
        for request in Plan.commit.requests {
            let sys = FaultInjectingSystemCalls(paths: { $0.hasPrefix(manifest) })
            try controller(f, sys).perform(request, configPath: request == .split ? f.dir + "/u.Config" : nil)
            let renames = sys.callCounts[.rename] ?? 0
            if request == .split || request == .finish {
                XCTAssertGreaterThan(renames, 0, "\(request) renames rdr.json")
            }
            if renames > 0 { XCTAssertGreaterThan(sys.callCounts[.fsync] ?? 0, 0, "\(request) syncs rdr.json") }
        }
    }

    func testFaultSweepSessionAndLogWrites() throws {
        var tried = 0
        var stopped = 0
        var mismatches = 0
        let kinds: [(SyscallKind, [InjectedFault])] = [
            (.open, [.eio]), (.pwrite, [.eio, .enospc, .short]), (.write, [.eio, .enospc, .short]),
            (.fsync, [.eio]), (.rename, [.eio]), (.mkdir, [.enospc]), (.pread, [.eio]),
        ]
        for plan in [Plan.commit, .abort] {
            let reference = try run(plan, faulty: nil, nil).images
            let untouched = try UpgradeFixture().images
            let counts = try counts(plan)
            for request in plan.requests {
                for (kind, faults) in kinds {
                    for n in Self.points(counts[request]?[kind] ?? 0, budget: Self.faultBudget)
                    where (counts[request]?[kind] ?? 0) > 0 {
                        for how in faults {
                            let r = try run(plan, faulty: request, .inject(kind, n, how))
                            tried += 1
                            if r.stopped { stopped += 1 }
                            if r.images != (r.wrote ? reference : untouched) {
                                mismatches += 1
                                XCTFail("\(plan) \(request): \(kind) #\(n) \(how) then resolved ends with other bytes")
                            }
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(tried, 200)
        XCTAssertGreaterThan(stopped, 100)
        print("session file fault sweep: \(tried) fault points, \(stopped) stopped a request, \(mismatches) mismatches")
    }

    func testFaultSweepPowerCutsDuringEachRequest() throws {
        var cuts = 0
        var stopped = 0
        var mismatches = 0
        for plan in [Plan.commit, .abort] {
            let reference = try run(plan, faulty: nil, nil).images
            let untouched = try UpgradeFixture().images
            for request in plan.requests {
                var total = 0
                _ = try run(plan, faulty: request, .powerCut(after: Int.max, .dropAll)) { sys in
                    total = (sys as? PowerCutSystemCalls)?.callCount ?? 0
                }
                for (i, at) in Self.points(total, budget: Self.cutBudget).enumerated() {
                    let mode: PowerCutSystemCalls.CrashMode = [
                        .dropAll, .keepRandom(seed: UInt64(at)), .tearLast(seed: UInt64(at)),
                    ][i % 3]
                    let r = try run(plan, faulty: request, .powerCut(after: at, mode))
                    cuts += 1
                    if r.stopped { stopped += 1 }
                    if r.images != (r.wrote ? reference : untouched) {
                        mismatches += 1
                        XCTFail(
                            "\(plan) \(request): power cut after call \(at) (\(mode)) then resolved ends with other bytes"
                        )
                    }
                }
            }
        }
        XCTAssertGreaterThan(cuts, 60)
        print("session power-cut sweep: \(cuts) cuts, \(stopped) stopped a request, \(mismatches) mismatches")
    }
}

extension UpgradeFixture {
    var images: [Data] { [image("boot", 10), image("boot", 11), image("data", 10), image("data", 11)] }
}
