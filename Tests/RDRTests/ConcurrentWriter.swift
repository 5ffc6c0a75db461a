import Synchronization
import XCTest

@testable import RDR

/// Runs `resync` on split disk "boot" while a thread keeps writing 3,000-byte pattern blocks as
/// the Production Side, at random places in the first `slots` 64 KiB regions, then checks what
/// every resync must give under load: both members identical, holding exactly the first
/// `initialBytes` of pattern 5 plus every concurrent write, replayed in order onto a model.
func resyncUnderConcurrentWrites(
    _ t: TempSystem, _ d: VirtualDisk, initialBytes: Int, writes count: Int, slots: UInt64, pause: useconds_t,
    resync: () throws -> ResyncSummary
) throws -> ResyncSummary {
    let writes = Mutex<[(Int64, UInt64)]>([])
    let writerDone = Atomic<Bool>(false)
    let writer = Thread {
        var rng = SplitMixRandom(seed: 42)
        for i in 0..<count {
            let offset = Int64(rng.next() % slots) * 65536 + Int64(rng.next() % 60000)
            let seed = UInt64(1000 + i)
            do {
                try d.write(side: .side(.production), offset: offset, bytes: pattern(3000, seed: seed, offset: offset))
                writes.withLock { $0.append((offset, seed)) }
            } catch {
                XCTFail("concurrent write failed: \(error)")
            }
            usleep(pause)
        }
        writerDone.store(true, ordering: .relaxed)
    }
    writer.start()
    let summary = try resync()
    while !writerDone.load(ordering: .relaxed) { usleep(10_000) }
    try d.flush()
    let a = contents(t.image("boot", .ten))
    XCTAssertEqual(a, contents(t.image("boot", .eleven)), "members identical after a resync with concurrent writes")
    var model = [UInt8](pattern(initialBytes, seed: 5)) + [UInt8](repeating: 0, count: Int(d.size) - initialBytes)
    for (offset, seed) in writes.withLock({ $0 }) {
        model.replaceSubrange(Int(offset)..<Int(offset) + 3000, with: pattern(3000, seed: seed, offset: offset))
    }
    XCTAssertTrue(Array(a) == model, "members hold exactly the initial data plus every concurrent write")
    XCTAssertEqual(d.record.mode, .duplex)
    XCTAssertEqual(d.dirtyBytes, [0, 0])
    return summary
}
