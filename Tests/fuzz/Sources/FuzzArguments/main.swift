import RDR
import RDRArguments

/// The argument parser, with options of every shape the CLI uses, and the engine's parsers of the
/// option values the `rdr` target reads through it (sizes, enclosures, sides, disk specs).
/// Input: NUL-separated words.
struct NoContext: Sendable {}

let spec = CommandSpec<NoContext>(
    path: ["disk", "resync"], overview: "fuzz", positionals: "<disk>",
    options: [
        OptionSpec(names: ["--from"], value: "10|11", help: ""),
        OptionSpec(names: ["--disk"], value: "spec", help: "", repeatable: true),
        OptionSpec(names: ["--full", "-f"], value: nil, help: ""),
        OptionSpec(names: ["--max-rate"], value: "rate", help: ""),
        OptionSpec(names: ["--side"], value: "side", help: ""),
        OptionSpec(names: ["--workers"], value: "n", help: ""),
        OptionSpec(names: ["--checkpoint"], value: "seconds", help: ""),
        OptionSpec(names: ["--seed"], value: "seed", help: ""),
    ])

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let words = UnsafeBufferPointer(start: data, count: size).split(separator: 0, omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }
    guard let p = try? Parsed.parse(words, spec: spec, context: NoContext()) else { return 0 }
    _ = p.value("--max-rate").map { try? ByteSize.parse($0) }
    _ = try? p.integer("--workers", in: 1...64)
    _ = try? p.seconds("--checkpoint", in: 0.05...3600)
    _ = try? p.unsigned("--seed")
    _ = try? p.distinctPositionals()
    _ = p.value("--from").map { Enclosure(text: $0) }
    _ = p.value("--side").map { SideSelector(text: $0) }
    _ = try? p.positional(0, "<disk>")
    for text in p.all("--disk") { _ = try? DiskSpec.parse(text, regionSize: 65536) }
    _ = spec.help
    _ = spec.usage
    return 0
}
