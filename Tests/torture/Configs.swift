import Foundation

/// The configurations a run uses: a benign one whose StopApplication action hangs while the
/// file `hang` exists (for forced aborts of a running request), and hostile ones the oracle knows
/// must be refused before anything changes (65) or must break the readiness check (1).
struct Configs {
    let dir: String

    init(dir: String, system: String) {
        self.dir = dir
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        write("adv.sh", "#!/bin/sh\nexit 0\n", executable: true)
        write(
            "stop.sh", "#!/bin/sh\nif [ -e \(dir)/hang ]; then echo $$ > \(dir)/hang.pid; sleep 60; fi\nexit 0\n",
            executable: true)
        write("rdr.json", "not a manifest\n")
        write(
            "ok.Config",
            #"{"customActions": [{"file": "adv.sh", "controlType": "Advanced"}, {"file": "stop.sh", "controlType": "StopApplication", "timeoutSeconds": 60}]}"#
        )
        for (name, body) in Self.refused(system: system, dir: dir) { write(name, body) }
        write("missing.Config", #"{"customActions": [{"file": "nowhere.sh", "controlType": "Advanced"}]}"#)
    }

    /// Refused at split with exit 65, the session and every file of the system unchanged.
    static func refused(system: String, dir: String) -> [(String, String)] {
        [
            (
                "backup-into-system.Config",
                #"{"logBackup": {"stagingDirectory": "\#(system)", "logs": ["\#(dir)/rdr.json"]}}"#
            ),
            (
                "backup-inside-system.Config",
                #"{"logBackup": {"stagingDirectory": "\#(system)/../\#((system as NSString).lastPathComponent)/sub", "logs": ["\#(dir)/rdr.json"]}}"#
            ),
            (
                "bool-timeout.Config",
                #"{"customActions": [{"file": "adv.sh", "controlType": "Advanced", "timeoutSeconds": true}]}"#
            ),
            (
                "nul-argument.Config",
                #"{"customActions": [{"file": "adv.sh", "controlType": "Advanced", "arguments": "a\u0000b"}]}"#
            ),
            (
                "open-quote.Config",
                #"{"customActions": [{"file": "adv.sh", "controlType": "Advanced", "arguments": "'open"}]}"#
            ),
            ("zero-split-timeout.Config", #"{"splitTimeoutSeconds": 0}"#),
        ]
    }

    var ok: String { dir + "/ok.Config" }
    var missing: String { dir + "/missing.Config" }
    var hangFile: String { dir + "/hang" }
    var hangPID: String { dir + "/hang.pid" }

    private func write(_ name: String, _ text: String, executable: Bool = false) {
        let path = dir + "/" + name
        try? text.write(toFile: path, atomically: true, encoding: .utf8)
        if executable { chmod(path, 0o755) }
    }
}
