import XCTest

@testable import RDR

final class RegionGeometryTests: XCTestCase {
    /// 10 regions of 64 KiB, the last one 4 KiB long.
    let g = RegionGeometry(size: 9 * 65536 + 4096, regionSize: 65536)

    func testRegionsOfAByteRange() {
        XCTAssertEqual(g.regionCount, 10)
        XCTAssertEqual(g.regions(of: 0..<1), 0..<1)
        XCTAssertEqual(g.regions(of: 65535..<65537), 0..<2, "a range straddling a boundary touches both")
        XCTAssertEqual(g.regions(of: 65536..<131072), 1..<2, "an aligned range touches exactly its regions")
        XCTAssertEqual(g.regions(of: 100..<100), 0..<0, "an empty range touches none")
        XCTAssertEqual(g.regions(of: 9 * 65536..<g.size), 9..<10)
    }

    func testBytesOfARegionRunEndAtTheDisk() {
        XCTAssertEqual(g.bytes(of: 0..<2), 0..<131072)
        XCTAssertEqual(g.bytes(of: 8..<10), 8 * 65536..<g.size, "the partial last region is cut at the end")
        XCTAssertEqual(g.regionStart(atOrBefore: 70000), 65536)
        XCTAssertEqual(g.regionBoundary(atOrAfter: 70000), 131072)
        XCTAssertEqual(g.regionBoundary(atOrAfter: 131072), 131072)
        XCTAssertEqual(g.regionEnd(at: 70000), 2)
        XCTAssertEqual(g.regionEnd(at: 65536), 1)
    }

    func testBytesOfABitmapCountThePartialLastRegionByItsLength() {
        var b = DirtyBitmap(regionCount: 10)
        b.set(0)
        b.set(1)
        XCTAssertEqual(g.byteCount(of: b), 131072)
        b.set(9)
        XCTAssertEqual(g.byteCount(of: b), 131072 + 4096)
        XCTAssertEqual(g.byteRanges(of: b), [0..<131072, 9 * 65536..<g.size])
        b.setAll()
        XCTAssertEqual(g.byteCount(of: b), g.size)
    }

    func testHostileSizesNeverTrap() {
        XCTAssertEqual(RegionGeometry(size: Int64.max, regionSize: 2).regionCount, Int(Int64.max / 2) + 1)
        XCTAssertEqual(RegionGeometry(size: 4096, regionSize: 0).regionCount, 0)
        XCTAssertEqual(RegionGeometry(size: 0, regionSize: 4096).regionCount, 0)
    }
}
