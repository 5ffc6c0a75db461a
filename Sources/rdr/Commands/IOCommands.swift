import FoundationEssentials
import Glibc
import RDR
import RDRArguments

/// `write`, `read` and `workload`: I/O through the mirror as a side sees it.
enum IOCommands {
    static let sideOption = OptionSpec(
        names: ["--side"], value: "side", help: "production, upgrade, 10 or 11 (needed while split or merged).")

    static let write = CommandSpec(
        path: ["write"],
        overview: "Write bytes to a virtual disk as one side (write-intent bits are persisted first).",
        positionals: "<disk>",
        arguments: [("<disk>", "The virtual disk.")],
        options: Common.options + [
            sideOption,
            OptionSpec(
                names: ["--offset"], value: "n", help: "Byte offset, 0 to the disk's size (K/M/G/T suffixes allowed).",
                required: true),
            OptionSpec(
                names: ["--file"], value: "path",
                help:
                    "Write this file's bytes (a regular file is checked against\nthe room left before anything is written).",
                required: true, exclusive: "source"),
            OptionSpec(
                names: ["--stdin"], value: nil, help: "Write the bytes read from standard input.", required: true,
                exclusive: "source"),
            OptionSpec(
                names: ["--pattern"], value: "seed",
                help: "Write deterministic pattern bytes from this seed, 0 to 2^64-1.", required: true,
                exclusive: "source"),
            OptionSpec(
                names: ["--length"], value: "n", help: "Bytes of pattern to write, 0 to the room left on the disk."),
        ],
        discussion:
            "Any length streams through an 8 MiB buffer. The data is durable (fdatasync) when the command\nreturns. Input from a pipe that runs past the end of the disk stops there with an error (64);\nwhat came before is written.",
        run: runWrite)

    static func runWrite(_ p: Parsed) throws -> Int32 {
        let name = try p.positional(0, "<disk>")
        try p.noMorePositionals(than: 1)
        guard let offset = try p.size("--offset") else { throw p.usage("missing --offset") }
        let sources = ["--file", "--stdin", "--pattern"].filter { p.has($0) }
        guard sources.count == 1 else { throw p.usage("give exactly one of --file, --stdin or --pattern") }
        let side = try p.side()
        var seed: UInt64?
        var length: Int64?
        if p.has("--pattern") {
            seed = try p.unsigned("--pattern")
            guard let l = try p.size("--length") else { throw p.usage("--pattern needs --length") }
            length = l
        }
        let system = try Common.open(p)
        let lock = try system.lock(command: p.env.commandLine)
        defer { lock.release() }
        let disk = try system.disk(name)
        let written: Int64
        if let seed {
            written = try disk.writeStream(side: side, offset: offset, length: length) {
                (buffer, count, position) throws(RDRError) -> Int in
                Pattern.fill(buffer, count: count, seed: seed, offset: offset + position)
                return count
            }
        } else {
            let input = try InputFile(p.value("--file"), p.env)
            defer { input.close() }
            if let size = input.size, size > disk.size - min(offset, disk.size) {
                throw RDRError(
                    .invalidArgument,
                    "--file \(input.name) holds \(ByteSize.format(size)), more than the \(ByteSize.format(max(0, disk.size - offset))) from offset \(offset) to the end of disk '\(name)'; nothing was written"
                )
            }
            written = try disk.writeStream(side: side, offset: offset, length: input.size) {
                (buffer, count, _) throws(RDRError) -> Int in
                try input.read(into: buffer, count: count)
            }
        }
        p.env.out.line("wrote \(written) bytes to \(name) at offset \(offset)")
        return ExitCode.success
    }

    static let read = CommandSpec(
        path: ["read"],
        overview: "Read bytes from a virtual disk as one side sees it.",
        positionals: "<disk>",
        arguments: [("<disk>", "The virtual disk.")],
        options: Common.options + [
            sideOption,
            OptionSpec(names: ["--offset"], value: "n", help: "Byte offset, 0 to the disk's size.", required: true),
            OptionSpec(
                names: ["--length"], value: "n", help: "Bytes to read, 0 to the disk's size minus the offset.",
                required: true),
            OptionSpec(
                names: ["--out"], value: "path", help: "Write the bytes to this file (default: standard output)."),
        ],
        discussion: "Any length streams through an 8 MiB buffer.",
        run: runRead)

    static func runRead(_ p: Parsed) throws -> Int32 {
        let name = try p.positional(0, "<disk>")
        try p.noMorePositionals(than: 1)
        guard let offset = try p.size("--offset") else { throw p.usage("missing --offset") }
        guard let length = try p.size("--length") else { throw p.usage("missing --length") }
        let side = try p.side()
        let system = try Common.open(p)
        let disk = try system.disk(name, access: .readOnly)
        let output = try OutputFile(p.value("--out"), p.env)
        defer { output.close() }
        try disk.readStream(side: side, offset: offset, length: length) { (bytes) throws(RDRError) in
            try output.write(bytes)
        }
        return ExitCode.success
    }

    static let workload = CommandSpec(
        path: ["workload"],
        overview: "Run a write load on one side of a disk (pattern data, batched write-intent).",
        positionals: "<disk>",
        arguments: [("<disk>", "The virtual disk.")],
        options: Common.options + [
            sideOption,
            OptionSpec(names: ["--bytes"], value: "n", help: "Total bytes to write, 1 to 1P.", required: true),
            OptionSpec(
                names: ["--io-size"], value: "n",
                help: "Bytes per write, a multiple of 512 from 512 to 64M (default 64K)."),
            OptionSpec(names: ["--pattern"], value: "order", help: "random (default) or sequential offsets."),
            OptionSpec(names: ["--seed"], value: "n", help: "Seed for offsets and data, 0 to 2^64-1 (default 1)."),
            OptionSpec(names: ["--batch"], value: "n", help: "Writes per write-intent flush, 1 to 1024 (default 32)."),
            OptionSpec(
                names: ["--offset"], value: "n", help: "Start of the range written, 0 to the disk's size (default 0)."),
            OptionSpec(
                names: ["--length"], value: "n",
                help: "Length of the range written, --io-size to the room left\n(default: to the end)."),
            OptionSpec(names: ["--json"], value: nil, help: "Print the summary as JSON."),
        ],
        discussion:
            "SIGINT, SIGTERM or SIGHUP stops it after the current batch: what it wrote is durable and\nmarked, and it exits 130.",
        observesCancellation: true, run: runWorkload)

    static func runWorkload(_ p: Parsed) throws -> Int32 {
        let name = try p.positional(0, "<disk>")
        try p.noMorePositionals(than: 1)
        guard let bytes = try p.size("--bytes", in: Workload.bytesRange) else { throw p.usage("missing --bytes") }
        var w = Workload(bytes: bytes)
        w.ioSize = try p.size("--io-size", in: Workload.ioSizeRange) ?? w.ioSize
        if let order = p.value("--pattern") {
            guard let o = Workload.Order(rawValue: order) else {
                throw p.usage("--pattern must be random or sequential")
            }
            w.order = o
        }
        w.seed = try p.unsigned("--seed") ?? w.seed
        w.batch = try p.integer("--batch", in: Workload.batchRange) ?? w.batch
        w.offset = try p.size("--offset") ?? 0
        w.length = try p.size("--length")
        let side = try p.side()
        let system = try Common.open(p)
        let lock = try system.lock(command: p.env.commandLine)
        defer { lock.release() }
        let disk = try system.disk(name)
        w.cancellation = p.env.cancellation
        let summary = try w.run(on: disk, side: side)
        if p.has("--json") {
            p.env.out.line(try JSONOutput.text(JSONOutput.Workload(summary)))
        } else {
            p.env.out.line(
                "workload \(name) (\(side?.description ?? "duplex")): wrote \(ByteSize.format(summary.bytesWritten)) in \(summary.writes) writes, "
                    + Printf.format("%.2f s, %.1f MiB/s", summary.seconds, summary.mibPerSecond))
        }
        return ExitCode.success
    }
}

/// The input of `write --file` or `--stdin`, read in pieces, never whole. A regular file's size
/// is known, so it is checked against the room left before anything is written; a pipe's or a
/// FIFO's is not.
final class InputFile {
    let fd: Int32
    let name: String
    let size: Int64?
    /// Opened here (closed by `close`), not the environment's standard input.
    private let owned: Bool

    /// `path` nil: the environment's standard input.
    init(_ path: String?, _ env: CommandEnvironment) throws {
        guard let path else {
            fd = env.stdin
            name = "standard input"
            size = nil
            owned = false
            return
        }
        fd = Glibc.open(env.path(path), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw RDRError(.invalidArgument, "cannot open --file \(path): \(String(cString: strerror(errno)))")
        }
        name = path
        owned = true
        var st = stat()
        size = fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? Int64(st.st_size) : nil
    }

    /// Up to `count` bytes into `buffer`; 0 at the end.
    func read(into buffer: UnsafeMutableRawPointer, count: Int) throws(RDRError) -> Int {
        while true {
            let n = Glibc.read(fd, buffer, count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw RDRError(.io, "cannot read \(name): \(String(cString: strerror(errno)))")
        }
    }

    func close() { if owned { Glibc.close(fd) } }
}

/// Where `read` puts its bytes: `--out FILE` (created or truncated) or the environment's output.
final class OutputFile {
    /// The file's descriptor; nil for the environment's output stream.
    let fd: Int32?
    let name: String
    let out: OutputStream

    init(_ path: String?, _ env: CommandEnvironment) throws {
        out = env.out
        guard let path else {
            fd = nil
            name = "standard output"
            return
        }
        let fd = Self.create(env.path(path), mask: env.fileMask)
        guard fd >= 0 else { throw RDRError(.io, "cannot write --out \(path): \(String(cString: strerror(errno)))") }
        self.fd = fd
        name = path
    }

    /// Creates `path` (or truncates the file there) with the mode the caller's umask gives, also
    /// when an owner, whose own umask may differ, runs the command.
    static func create(_ path: String, mask: mode_t) -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 {
            fchmod(fd, 0o644 & ~mask)
            return fd
        }
        guard errno == EEXIST else { return fd }
        return Glibc.open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
    }

    func write(_ bytes: [UInt8]) throws(RDRError) {
        let failure = fd.map { FullWrite.writeAll($0, bytes) } ?? out.checkedBytes(bytes)
        if failure == EPIPE && fd == nil { throw ExitCode.readerGone }
        guard failure == 0 else { throw RDRError(.io, "cannot write \(name): \(String(cString: strerror(failure)))") }
    }

    func close() { if let fd { Glibc.close(fd) } }
}
