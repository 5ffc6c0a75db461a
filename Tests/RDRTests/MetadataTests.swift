import XCTest

@testable import RDR

final class MetadataTests: XCTestCase {
    let sys = LinuxSystemCalls()

    func makeFile(regions: Int = 100_000) throws -> (String, MemberHeader) {
        let path = NSTemporaryDirectory() + "rdr-meta-" + UUID().uuidString
        let h = MemberHeader(
            mirrorID: MirrorID.random(), diskName: "d", enclosure: .ten, size: Int64(regions) * 4096,
            regionSize: 4096, record: .fresh(generation: 1, primary: .ten))
        _ = try MetadataFile.create(path: path, header: h, allDirty: false, replace: false, sys: sys)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return (path, h)
    }

    func testBitsPersistAcrossReopen() throws {
        let (path, h) = try makeFile()
        var bitmap = DirtyBitmap(regionCount: 100_000)
        do {
            let (file, loaded) = try MetadataFile.open(path: path, access: .readWrite, sys: sys)
            XCTAssertEqual(loaded, h)
            for r in [0, 5, 32_511, 32_512, 99_999] { bitmap.set(r) }
            XCTAssertEqual(try file.persist(bitmap), 3, "bits on three pages")
            bitmap.clear(5)
            try file.persist(bitmap)
        }
        let (file, _) = try MetadataFile.open(path: path, access: .readOnly, sys: sys)
        XCTAssertEqual(file.durable, bitmap)
    }

    /// A bitmap read from its file notes the pages its changes touch: a persist compares and
    /// writes those pages only (the cost follows the changed bits, not the disk), and forgets
    /// them once they are durable. A bitmap built from nothing is compared page by page.
    func testPersistComparesAndWritesOnlyTheTouchedPages() throws {
        let regions = 40 * MetadataLayout.Page.regionsPerPage
        let (path, _) = try makeFile(regions: regions)
        let (file, _) = try MetadataFile.open(path: path, access: .readWrite, sys: sys)
        var bitmap = file.durable
        XCTAssertEqual(bitmap.touchedPages(of: file.pageCount), [], "read from disk: nothing to write")
        bitmap.set(7 * MetadataLayout.Page.regionsPerPage + 3)
        bitmap.set(31 * MetadataLayout.Page.regionsPerPage)
        bitmap.set(3)
        bitmap.clear(3)  // touched, but back to what is durable: compared, not written
        bitmap.set(7 * MetadataLayout.Page.regionsPerPage + 3)  // already set: touches nothing new
        XCTAssertEqual(bitmap.touchedPages(of: file.pageCount), [0, 7, 31])
        XCTAssertEqual(try file.persist(&bitmap), 2, "pages 7 and 31")
        XCTAssertEqual(bitmap.touchedPages(of: file.pageCount), [], "persisted: nothing left to write")
        XCTAssertEqual(try file.persist(&bitmap), 0)
        XCTAssertEqual(file.pageSequence.enumerated().filter { $0.element > 0 }.map(\.offset), [7, 31])
        var fresh = DirtyBitmap(regionCount: regions)
        fresh.set(12 * MetadataLayout.Page.regionsPerPage)
        XCTAssertEqual(fresh.touchedPages(of: file.pageCount).count, 40, "no note: every page is compared")
        XCTAssertEqual(try file.persist(&fresh), 3, "pages 7 and 31 cleared, page 12 set")
        let (reread, _) = try MetadataFile.open(path: path, access: .readOnly, sys: sys)
        XCTAssertEqual(reread.durable, fresh)
        XCTAssertEqual(reread.durable.count, 1)
    }

    func testDamagedPageSlotMarksTheWholePageDirtyUntilRewritten() throws {
        let (path, _) = try makeFile()
        var bitmap = DirtyBitmap(regionCount: 100_000)
        let (file, _) = try MetadataFile.open(path: path, access: .readWrite, sys: sys)
        bitmap.set(10)
        try file.persist(bitmap)  // page 0 sequence 1 → slot 1
        bitmap.set(11)
        try file.persist(bitmap)  // sequence 2 → slot 0
        // Damage the newest copy (slot 0 of page 0). It may be a torn write or rot of bits already
        // relied on, so the whole page counts as dirty; page 1 is untouched.
        let fd = try FileDescriptor.open(path, .readWrite, sys: sys)
        try fd.write([UInt8](repeating: 0xAB, count: 100), at: MetadataLayout.bitmapOffset + 2000)
        fd.close()
        let (reloaded, _) = try MetadataFile.open(path: path, access: .readWrite, sys: sys)
        XCTAssertEqual(reloaded.suspectPages, [0])
        XCTAssertEqual(
            reloaded.durable.count, MetadataLayout.Page.regionsPerPage,
            "every region of page 0, none of page 1")
        XCTAssertTrue(reloaded.durable.isSet(11))
        // Rewriting the page (a resync clearing it) heals the damaged slot.
        var cleared = reloaded.durable
        cleared.clearAll()
        try reloaded.persist(cleared)
        let (healed, _) = try MetadataFile.open(path: path, access: .readOnly, sys: sys)
        XCTAssertEqual(healed.suspectPages, [])
        XCTAssertTrue(healed.durable.isEmpty)
    }

    func testPageWithNoValidSlotIsRefused() throws {
        let (path, _) = try makeFile()
        let fd = try FileDescriptor.open(path, .readWrite, sys: sys)
        try fd.write([0xFF], at: MetadataLayout.bitmapOffset + 4096 * 2 + 40)  // page 1 slot 0 (slot 1 never written)
        fd.close()
        XCTAssertThrowsError(try MetadataFile.open(path: path, access: .readOnly, sys: sys)) { error in
            guard case MetadataFile.LoadError.page(1)? = error as? MetadataFile.LoadError else {
                return XCTFail("\(error)")
            }
        }
    }

    func testHeaderSlotsAlternateAndSurviveOneCorruptSlot() throws {
        let (path, h) = try makeFile()
        let (file, _) = try MetadataFile.open(path: path, access: .readWrite, sys: sys)
        var next = h
        next.record.events = 2
        next.record.mode = .split
        try file.writeHeader(next)  // slot 0; slot 1 still holds events 1
        let fd = try FileDescriptor.open(path, .readWrite, sys: sys)
        try fd.write([0x00, 0x11], at: 100)  // corrupt slot 0
        fd.close()
        let (_, loaded) = try MetadataFile.open(path: path, access: .readOnly, sys: sys)
        XCTAssertEqual(loaded.record.events, 1, "falls back to the older valid slot")
        let fd2 = try FileDescriptor.open(path, .readWrite, sys: sys)
        try fd2.write([0x00, 0x11], at: 4096 + 100)  // and now slot 1
        fd2.close()
        XCTAssertThrowsError(try MetadataFile.open(path: path, access: .readOnly, sys: sys))
    }
}
