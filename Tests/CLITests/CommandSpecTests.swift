import RDRArguments
import XCTest

@testable import rdr

/// The CLI from one source: for every command, what the parser accepts, what `--help` lists and
/// what the usage line shows are the same options.
final class CommandSpecTests: XCTestCase {
    let everyCommand = [CLI.root] + CLI.commands

    func testEveryParsedOptionAppearsInHelpAndUsage() {
        for spec in everyCommand {
            let usage = spec.usage.split(separator: " ").map { $0.trimmingCharacters(in: ["[", "]", "(", ")"]) }
            let helpRows = Set(optionRows(spec.help))
            for option in spec.options where !option.hidden {
                XCTAssertTrue(
                    usage.contains(option.names[0]), "\(spec.name): usage '\(spec.usage)' lacks \(option.names[0])")
                for name in option.names {
                    XCTAssertTrue(helpRows.contains(name), "\(spec.name): help lacks \(name)")
                }
            }
            for option in spec.options where option.hidden {
                XCTAssertFalse(
                    spec.help.contains(option.names[0]), "\(spec.name): help shows the hidden \(option.names[0])")
                XCTAssertFalse(
                    spec.usage.contains(option.names[0]), "\(spec.name): usage shows the hidden \(option.names[0])")
            }
        }
    }

    func testNoHelpOrUsageListsAnOptionTheParserRefuses() throws {
        let env = CommandEnvironment(arguments: [], workingDirectory: "/", out: .init({ _ in }), err: .init({ _ in }))
        for spec in everyCommand {
            let usageOptions = spec.usage.split(separator: " ").map { $0.trimmingCharacters(in: ["[", "]", "(", ")"]) }
                .filter { $0.hasPrefix("--") }
            for name in Set(optionRows(spec.help) + usageOptions) where name != "--help" && name != "-h" {
                let option = try XCTUnwrap(
                    spec.option(named: name), "\(spec.name) lists \(name), which it does not define")
                let args = [name] + (option.value == nil ? [] : ["x"])
                XCTAssertNoThrow(
                    try RDRArguments.Parsed<CommandEnvironment>.parse(args, spec: spec, context: env),
                    "\(spec.name) refuses \(name), which its help lists")
            }
        }
    }

    /// The options the usage line shows once drifted from the parser (workload lacked --batch,
    /// --offset, --length, --json; disk resync --io-size, --copy-method, --checkpoint).
    func testUsageLinesOfTheCommandsThatDrifted() {
        let workload = CLI.find(["workload"])?.0.usage ?? ""
        for name in ["--batch <n>", "--offset <n>", "--length <n>", "[--json]", "--bytes <n>"] {
            XCTAssertTrue(workload.contains(name), workload)
        }
        let resync = CLI.find(["disk", "resync"])?.0.usage ?? ""
        for name in [
            "[--io-size <size>]", "[--copy-method <method>]", "[--checkpoint <seconds>]", "(--from <10|11> | --all)",
        ] {
            XCTAssertTrue(resync.contains(name), resync)
        }
        XCTAssertEqual(
            CLI.find(["write"])?.0.usage,
            "rdr write <disk> [--system <dir> | --name <name>] [--side <side>] --offset <n> (--file <path> | --stdin | --pattern <seed>) [--length <n>]"
        )
    }

    /// A usage error prints the generated usage line of the command that refused it.
    func testUsageErrorsPrintTheGeneratedUsageLine() throws {
        for spec in CLI.commands where spec.run != nil {
            let err = CommandEnvironmentTests.Capture()
            let env = CommandEnvironment(
                arguments: spec.path + ["--no-such-option"], workingDirectory: "/",
                out: .init({ _ in }), err: err.stream)
            XCTAssertEqual(CLI.run(env), ExitCode.usage, spec.name)
            XCTAssertEqual(
                err.text, "Error: unknown option '--no-such-option'\nUsage: \(spec.usage)\nSee '\(spec.name) --help'\n")
        }
    }

    /// The option names of a help text's OPTIONS rows (`  --a, --b <v>   text`).
    func optionRows(_ help: String) -> [String] {
        guard let start = help.range(of: "\nOPTIONS:\n") else { return [] }
        var names: [String] = []
        for line in help[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { break }
            guard line.hasPrefix("  -") else { continue }
            let left = line.dropFirst(2).components(separatedBy: "  ")[0]
            for part in left.split(separator: ",") {
                if let name = part.split(separator: " ").first, name.hasPrefix("-") { names.append(String(name)) }
            }
        }
        return names
    }
}
