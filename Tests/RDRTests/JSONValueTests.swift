import Foundation
import XCTest

@testable import RDR

final class JSONValueTests: XCTestCase {
    func parse(_ text: String) throws -> JSONValue { try JSONValue(parsing: Array(text.utf8)) }

    func testBooleansAreNeverNumbersAndNumbersNeverBooleans() throws {
        XCTAssertEqual(try parse("true"), .bool(true))
        XCTAssertEqual(try parse("false"), .bool(false))
        XCTAssertEqual(try parse("1"), .number(1))
        XCTAssertEqual(try parse("0"), .number(0))
        XCTAssertEqual(try parse("1.0"), .number(1))
        XCTAssertEqual(try parse("1.5"), .number(1.5))
        XCTAssertNotEqual(try parse("true"), try parse("1"))
        XCTAssertNotEqual(try parse("false"), try parse("0"))
        XCTAssertEqual(
            try parse("[true, 1, 1.0, null, \"1\"]"),
            .array([.bool(true), .number(1), .number(1), .null, .string("1")]))
    }

    func testRoundTripsKeepEveryValue() throws {
        let text =
            #"{"a":[true,false,null,1,-3,1.5,1e-07,1125899906842624],"#
            + #""b":{"empty":{},"list":[]},"s":"é\/\u0001\t"}"#
        let value = try parse(text)
        XCTAssertEqual(try JSONValue(parsing: try value.encoded()), value)
        XCTAssertEqual(try JSONValue(parsing: try value.encoded(pretty: true)), value)
        XCTAssertEqual(value["a"]?.arrayValue?.first, .bool(true))
        XCTAssertEqual(value["a"]?.arrayValue?[3], .number(1))
        XCTAssertEqual(value["a"]?.arrayValue?.last?.numberValue, 1_125_899_906_842_624, "integers are exact to 2^53")
        XCTAssertEqual(value["s"]?.stringValue, "é/\u{1}\t")
        XCTAssertNil(value["missing"])
        XCTAssertNil(JSONValue.string("x")["key"], "a member of a non-object is nil")
    }

    /// The text is what Foundation's JSONSerialization wrote before (sorted keys, pretty with
    /// two spaces and " : "), so rewriting a manifest changes no byte it did not mean to.
    func testTextMatchesJSONSerialization() throws {
        let text = #"{"format":"rdr-system/1","primary":10,"x":{"t":true,"n":null,"f":1.5,"one":1.0,"l":[],"o":{}}}"#
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        let expected = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        XCTAssertEqual(Data(try parse(text).encoded(pretty: true)), expected)
        let compact = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        XCTAssertEqual(Data(try parse(text).encoded()), compact)
    }

    func testNotJSONIsRefused() {
        for bad in ["", "{", "tru", "{\"a\":}", "[1 2]"] {
            XCTAssertThrowsError(try parse(bad), bad)
        }
    }

    func testManifestSectionsRoundTripThroughTheEngine() throws {
        let t = try TempSystem()
        let section = #"{"flag":true,"count":1,"ratio":1.5,"names":["a","b"]}"#
        try t.system.writeExtensionSection("model", Data(section.utf8))
        let read = try XCTUnwrap(try t.reopen().extensionSection("model"))
        XCTAssertEqual(try JSONValue(parsing: Array(read)), try parse(section))
        XCTAssertEqual(try t.reopen().manifest, t.system.manifest, "the engine's own keys are untouched")
        let roles = try t.reopen().settingRoles(["data": .system])
        XCTAssertEqual(try roles.manifest.disk(named: "data").role, .system)
        let kept = try XCTUnwrap(try roles.extensionSection("model"))
        XCTAssertEqual(try JSONValue(parsing: Array(kept)), try parse(section), "a role change keeps other sections")
        XCTAssertThrowsRDR(.invalidArgument, containing: "belongs to the engine") {
            try t.system.writeExtensionSection("disks", Data("[]".utf8))
        }
        XCTAssertThrowsRDR(.invalidArgument, containing: "is not JSON") {
            try t.system.writeExtensionSection("model", Data("{".utf8))
        }
    }
}
