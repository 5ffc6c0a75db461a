import XCTest

@testable import ActiveUpgrade

final class ConfigurationTests: XCTestCase {
    func testIncludesParentWinsAndChildDisksIgnored() throws {
        let f = try UpgradeFixture()
        f.config(
            "child.Config",
            #"{"title": "child", "disks": {"data": "system"}, "services": ["webapp", "appdb"], "customActions": [{"file": "/bin/true", "controlType": "Backup"}], "logBackup": {"stagingDirectory": "/tmp/x", "logs": []}}"#
        )
        let parent = f.config(
            "parent.Config",
            #"{"title": "parent", "disks": {"boot": "system"}, "include": ["child.Config"], "services": ["appdb"], "customActions": [{"file": "/bin/true", "controlType": "Advanced", "timing": "Late"}, {"file": "/bin/echo", "controlType": "Advanced", "timing": "Early"}]}"#
        )
        let c = try Configuration.load(parent)
        XCTAssertEqual(c.title, "parent")
        XCTAssertEqual(c.disks, ["boot": .system], "child disk selections are ignored")
        XCTAssertEqual(c.services.map(\.name), ["appdb", "webapp"])
        XCTAssertEqual(c.services.map { ($0.source as NSString).lastPathComponent }, ["parent.Config", "child.Config"])
        XCTAssertEqual(c.actions(.Advanced).map(\.file), ["/bin/echo", "/bin/true"], "Early runs before Late")
        XCTAssertEqual(c.actions(.Backup).count, 1)
        XCTAssertEqual(c.logBackup?.stagingDirectory, "/tmp/x")
        XCTAssertTrue(c.summary.contains("webapp (from child.Config)"))
    }

    func testCyclesAndBadKeysAreNamed() throws {
        let f = try UpgradeFixture()
        f.config("a.Config", #"{"include": ["b.Config"]}"#)
        f.config("b.Config", #"{"include": ["a.Config"]}"#)
        XCTAssertRefused("include cycle a.Config → b.Config → a.Config") {
            _ = try Configuration.load(f.dir + "/a.Config")
        }
        let cases: [(String, String)] = [
            (#"{"titel": "x"}"#, "key 'titel' is not a configuration key"),
            (#"{"title": 5}"#, "key 'title' must be a string"),
            (#"{"services": "appdb"}"#, "key 'services' must be an array"),
            (#"{"disks": {"boot": "mandatory"}}"#, "key 'disks.boot' must be \"system\" or \"data\""),
            (
                #"{"customActions": [{"file": "/bin/true", "controlType": "Sometimes"}]}"#,
                "key 'customActions[0].controlType' must be one of"
            ),
            (
                #"{"customActions": [{"file": "/bin/true", "controlType": "Advanced", "timing": "Soon"}]}"#,
                "key 'customActions[0].timing' must be Early, Default or Late"
            ),
            (#"{"customActions": [{"controlType": "Backup"}]}"#, "key 'customActions[0].file' is required"),
            (
                #"{"customActions": [{"file": "/bin/true", "controlType": "Backup", "when": 1}]}"#,
                "key 'customActions[0].when' is not a custom action key"
            ),
            (#"{"logBackup": {"stagingDirectory": 5}}"#, "key 'logBackup.stagingDirectory' must be a string"),
            (#"{"autoRecover": "later"}"#, "key 'autoRecover' must be \"abort\", \"retry\" or \"none\""),
            (#"{"splitTimeoutSeconds": true}"#, "key 'splitTimeoutSeconds' must be a number of seconds greater than 0"),
            (
                #"{"customActions": [{"file": "/bin/true", "controlType": "Backup", "arguments": "'open"}]}"#,
                "key 'customActions[0].arguments' has an unterminated ' quote"
            ),
            (#"{"include": ["../x.Config"]}"#, "same directory only"),
            (#"[1, 2]"#, "expected a JSON object"),
            (#"{"title": "#, "not valid JSON"),
        ]
        for (json, message) in cases {
            let path = f.config("bad.Config", json)
            XCTAssertRefused(message) { _ = try Configuration.load(path) }
            XCTAssertRefused("bad.Config") { _ = try Configuration.load(path) }
        }
        XCTAssertRefused("must end in .Config") { _ = try Configuration.load(f.config("x.json", "{}")) }
    }

    func testArgumentStringsSplitLikeAShell() throws {
        XCTAssertEqual(
            try ArgumentSplitter.split(#"a 'b c' "d \"e\" \\ f" g\ h '' x\y"#),
            ["a", "b c", #"d "e" \ f"#, "g h", "", "xy"])
        XCTAssertEqual(try ArgumentSplitter.split("  "), [])
        for bad in ["'a", "\"a", "a\\", "a\u{0}b"] {
            XCTAssertThrowsError(try ArgumentSplitter.split(bad), bad)
        }
    }

    /// The configuration fuzzer's seeds and kept inputs: each parses or is refused, never traps;
    /// the checked-in seeds that are valid stay valid.
    func testFuzzInputsParseOrAreRefused() throws {
        let fuzz = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fuzz").path
        var parsed: [String] = []
        for kind in ["seeds", "regressions"] {
            let dir = "\(fuzz)/\(kind)/FuzzConfiguration"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where !name.hasPrefix(".") {
                guard let data = FileManager.default.contents(atPath: dir + "/" + name) else { continue }
                if let c = try? Configuration.parse(data, path: "/nonexistent-rdr-fuzz/fuzz.Config") {
                    _ = c.summary
                    parsed.append(name)
                }
            }
        }
        XCTAssertEqual(Set(parsed), ["demo.Config", "quoting.Config", "recovery.Config"])
        XCTAssertRefused("contains a NUL character") {
            _ = try Configuration.parse(
                Data(contentsOf: URL(fileURLWithPath: fuzz + "/seeds/FuzzConfiguration/hostile.Config")),
                path: "/x/h.Config")
        }
    }

    func testArgumentExpansion() {
        let vars = ["ACTIVE_UPGRADE_SIDE": "Upgrade", "ACTIVE_UPGRADE_REQUEST": "Stop"]
        XCTAssertEqual(
            CustomActionRunner.expand("%ACTIVE_UPGRADE_SIDE%-%ACTIVE_UPGRADE_REQUEST%-%OTHER%", vars),
            "Upgrade-Stop-%OTHER%")
    }
}
