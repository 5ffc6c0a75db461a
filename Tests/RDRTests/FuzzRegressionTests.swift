import Foundation
import XCTest

@testable import RDR

/// Replays the fuzzers' seeds and every kept crashing input (Tests/fuzz/regressions) through the
/// same decoders the fuzz targets call: each must decode or be refused, never trap.
final class FuzzRegressionTests: XCTestCase {
    static let fuzzDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz").path

    func inputs(_ target: String) -> [Data] {
        ["regressions", "seeds"].flatMap { kind -> [Data] in
            let dir = "\(Self.fuzzDir)/\(kind)/\(target)"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            return names.filter { !$0.hasPrefix(".") }.compactMap {
                FileManager.default.contents(atPath: dir + "/" + $0)
            }
        }
    }

    func testMetadataInputs() {
        let all = inputs("FuzzMetadata")
        XCTAssertFalse(all.isEmpty, "the metadata seed is checked in")
        for d in all {
            let bytes = [UInt8](d)
            _ = try? MemberHeader.decode(
                Array(bytes.prefix(4096)) + [UInt8](repeating: 0, count: max(0, 4096 - bytes.count)))
            _ = MetadataFile.decode(image: bytes, maxRegions: 1 << 20)
        }
        // The seed is a real metadata file: it must decode.
        if let seed = all.first(where: { $0.count == 16384 }),
            case .failure(let e) = MetadataFile.decode(image: [UInt8](seed))
        {
            XCTFail("seed metadata refused: \(e)")
        }
    }

    func testManifestInputs() {
        for d in inputs("FuzzManifest") {
            if let m = try? JSONDecoder().decode(Manifest.self, from: d) { _ = try? m.validate(path: "regression") }
        }
    }
}
