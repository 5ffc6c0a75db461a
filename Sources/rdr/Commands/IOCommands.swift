import Foundation
import RDR
import RDRArguments

/// `write`, `read` and `workload`: I/O through the mirror as a side sees it.
enum IOCommands {
    static let sideOption = OptionSpec(names: ["--side"], value: "side", help: "production, upgrade, 10 or 11 (needed while split or merged).")

    static let write = CommandSpec(
        path: ["write"],
        overview: "Write bytes to a virtual disk as one side (write-intent bits are persisted first).",
        usage: "rdr write <disk> [--side <side>] --offset <n> (--file <path> | --stdin | --pattern <seed> --length <n>)",
        arguments: [("<disk>", "The virtual disk.")],
        options: Common.options + [
            sideOption,
            OptionSpec(names: ["--offset"], value: "n", help: "Byte offset (K/M/G/T suffixes allowed)."),
            OptionSpec(names: ["--file"], value: "path", help: "Write this file's bytes."),
            OptionSpec(names: ["--stdin"], value: nil, help: "Write the bytes read from standard input."),
            OptionSpec(names: ["--pattern"], value: "seed", help: "Write deterministic pattern bytes from this seed."),
            OptionSpec(names: ["--length"], value: "n", help: "Bytes of pattern to write (with --pattern)."),
        ],
        discussion: "The data is durable (fdatasync) when the command returns.",
        run: runWrite)

    static func runWrite(_ p: Parsed) throws -> Int32 {
        let name = try p.positional(0, "<disk>")
        try p.noMorePositionals(than: 1)
        guard let offset = try p.size("--offset") else { throw p.usage("missing --offset") }
        let sources = ["--file", "--stdin", "--pattern"].filter { p.has($0) }
        guard sources.count == 1 else { throw p.usage("give exactly one of --file, --stdin or --pattern") }
        let side = try p.side()
        let system = try Common.open(p)
        let lock = try system.lock(command: Common.commandLine)
        defer { lock.release() }
        let disk = try system.disk(name)
        let bytes: [UInt8]
        if let path = p.value("--file") {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw RDRError(.invalidArgument, "cannot read --file \(path)")
            }
            bytes = Array(data)
        } else if p.has("--stdin") {
            bytes = readStandardInput(limit: Int(max(0, disk.size - offset)) + 1)
        } else {
            guard let length = try p.size("--length") else { throw p.usage("--pattern needs --length") }
            guard let seed = UInt64(p.value("--pattern") ?? "") else { throw p.usage("--pattern needs a whole-number seed") }
            guard length <= disk.size else { throw RDRError(.invalidArgument, "--length \(length) is larger than disk '\(name)' (\(disk.size) bytes)") }
            bytes = Pattern.bytes(count: Int(length), seed: seed, offset: offset)
        }
        try disk.write(side: side, offset: offset, bytes: bytes)
        try disk.flush()
        Terminal.out("wrote \(bytes.count) bytes to \(name) at offset \(offset)")
        return ExitCode.success
    }

    static func readStandardInput(limit: Int) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while out.count < limit {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    static let read = CommandSpec(
        path: ["read"],
        overview: "Read bytes from a virtual disk as one side sees it.",
        usage: "rdr read <disk> [--side <side>] --offset <n> --length <n> [--out <path>]",
        arguments: [("<disk>", "The virtual disk.")],
        options: Common.options + [
            sideOption,
            OptionSpec(names: ["--offset"], value: "n", help: "Byte offset."),
            OptionSpec(names: ["--length"], value: "n", help: "Bytes to read."),
            OptionSpec(names: ["--out"], value: "path", help: "Write the bytes to this file (default: standard output)."),
        ],
        run: runRead)

    static func runRead(_ p: Parsed) throws -> Int32 {
        let name = try p.positional(0, "<disk>")
        try p.noMorePositionals(than: 1)
        guard let offset = try p.size("--offset") else { throw p.usage("missing --offset") }
        guard let length = try p.size("--length") else { throw p.usage("missing --length") }
        let side = try p.side()
        let system = try Common.open(p)
        let disk = try system.disk(name, access: .readOnly)
        guard length <= 1 << 30 else { throw RDRError(.invalidArgument, "--length is limited to 1G per read") }
        let bytes = try disk.read(side: side, offset: offset, length: Int(length))
        if let out = p.value("--out") {
            guard FileManager.default.createFile(atPath: out, contents: Data(bytes)) else {
                throw RDRError(.io, "cannot write --out \(out)")
            }
        } else {
            FileHandle.standardOutput.write(Data(bytes))
        }
        return ExitCode.success
    }

    static let workload = CommandSpec(
        path: ["workload"],
        overview: "Run a write load on one side of a disk (pattern data, batched write-intent).",
        usage: "rdr workload <disk> [--side <side>] --bytes <n> [--io-size <n>] [--pattern random|sequential] [--seed <n>]",
        arguments: [("<disk>", "The virtual disk.")],
        options: Common.options + [
            sideOption,
            OptionSpec(names: ["--bytes"], value: "n", help: "Total bytes to write."),
            OptionSpec(names: ["--io-size"], value: "n", help: "Bytes per write, a multiple of 512 (default 64K)."),
            OptionSpec(names: ["--pattern"], value: "order", help: "random (default) or sequential offsets."),
            OptionSpec(names: ["--seed"], value: "n", help: "Seed for offsets and data (default 1)."),
            OptionSpec(names: ["--batch"], value: "n", help: "Writes per write-intent flush (default 32)."),
            OptionSpec(names: ["--offset"], value: "n", help: "Start of the range written (default 0)."),
            OptionSpec(names: ["--length"], value: "n", help: "Length of the range written (default: to the end)."),
            OptionSpec(names: ["--json"], value: nil, help: "Print the summary as JSON."),
        ],
        run: runWorkload)

    static func runWorkload(_ p: Parsed) throws -> Int32 {
        let name = try p.positional(0, "<disk>")
        try p.noMorePositionals(than: 1)
        guard let bytes = try p.size("--bytes") else { throw p.usage("missing --bytes") }
        var w = Workload(bytes: bytes)
        w.ioSize = try p.size("--io-size") ?? w.ioSize
        if let order = p.value("--pattern") {
            guard let o = Workload.Order(rawValue: order) else { throw p.usage("--pattern must be random or sequential") }
            w.order = o
        }
        if let seed = p.value("--seed") {
            guard let s = UInt64(seed) else { throw p.usage("--seed needs a whole number") }
            w.seed = s
        }
        w.batch = try p.integer("--batch") ?? w.batch
        w.offset = try p.size("--offset") ?? 0
        w.length = try p.size("--length")
        let side = try p.side()
        let system = try Common.open(p)
        let lock = try system.lock(command: Common.commandLine)
        defer { lock.release() }
        let disk = try system.disk(name)
        let summary = try w.run(on: disk, side: side)
        if p.has("--json") {
            Terminal.out("{\"bytesWritten\":\(summary.bytesWritten),\"writes\":\(summary.writes),\"seconds\":\(summary.seconds),\"mibPerSecond\":\(summary.mibPerSecond)}")
        } else {
            Terminal.out(String(format: "workload %@ (%@): wrote %@ in %d writes, %.2f s, %.1f MiB/s", name, side?.description ?? "duplex",
                                ByteSize.format(summary.bytesWritten), summary.writes, summary.seconds, summary.mibPerSecond))
        }
        return ExitCode.success
    }
}
