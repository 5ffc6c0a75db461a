import Synchronization
import XCTest

@testable import RDR

/// The engine's own threads and waits (FoundationEssentials has no Thread or NSCondition).
final class ConcurrencyTests: XCTestCase {
    /// A waiter sleeps until another thread changes the state and broadcasts.
    func testConditionWakesAWaiterAfterTheStateChanges() throws {
        let condition = ConditionLock()
        let box = Box()
        let woke = CancellationFlag()  // an atomic flag
        try Threads.start(name: "test-waiter") {
            condition.withLock {
                while !box.ready { condition.wait() }
                box.seen = box.value
            }
            woke.cancel()
        }
        condition.withLock {
            box.value = 42
            box.ready = true
            condition.broadcast()
        }
        for _ in 0..<5000 where !woke.isCancelled { usleep(1000) }
        XCTAssertTrue(woke.isCancelled, "the waiter woke")
        XCTAssertEqual(condition.withLock { box.seen }, 42, "and saw the state set before the broadcast")
    }

    /// A timed wait nobody signals reports that its time ran out; a signalled one that it woke.
    func testTimedWaitTellsTimeoutFromWakeUp() throws {
        let condition = ConditionLock()
        XCTAssertFalse(condition.withLock { condition.wait(seconds: 0.01) }, "nobody signals: the time runs out")
        let box = Box()
        try Threads.start(name: "test-signal") {
            condition.withLock {
                box.ready = true
                condition.broadcast()
            }
        }
        let sawReady = condition.withLock { () -> Bool in
            var rounds = 0
            while !box.ready && rounds < 1000 {
                condition.wait(seconds: 10)
                rounds += 1
            }
            return box.ready
        }
        XCTAssertTrue(sawReady)
    }

    func testWorkerPoolRunsEveryWorkerOnceAndTicksWhileTheyRun() throws {
        let ran = Ran()
        let release = CancellationFlag()
        var ticks = 0
        try WorkerPool.run(
            count: 4, name: "test-pool", interval: 0.001,
            tick: {
                ticks += 1
                if ticks >= 3 { release.cancel() }
            },
            work: { i in
                while !release.isCancelled { usleep(100) }
                ran.workers.withLock { $0.append(i) }
            })
        XCTAssertEqual(
            ran.workers.withLock { $0.sorted() }, [0, 1, 2, 3],
            "every worker ran, once, before run returned")
        XCTAssertGreaterThanOrEqual(ticks, 3, "the caller ticked while the workers ran")
    }

    final class Ran: Sendable {
        let workers = Mutex<[Int]>([])
    }

    /// Shared state of a test, guarded by the test's ConditionLock.
    final class Box: @unchecked Sendable {
        var ready = false
        var value = 0
        var seen = 0
    }
}
