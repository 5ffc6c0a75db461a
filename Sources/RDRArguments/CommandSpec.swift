import RDR

/// One option of a command. `value` is the placeholder shown in help; nil makes it a flag.
public struct OptionSpec: Sendable {
    public let names: [String]
    public let value: String?
    public let help: String
    public var repeatable = false
    public var hidden = false

    public init(names: [String], value: String?, help: String, repeatable: Bool = false, hidden: Bool = false) {
        self.names = names
        self.value = value
        self.help = help
        self.repeatable = repeatable
        self.hidden = hidden
    }

    public var key: String { names[0] }
}

/// A command: its help text and its options are the single source for both parsing and
/// `--help`, so the help cannot drift from what the parser accepts. `Context` is what a command
/// runs against besides its arguments (the program's environment); this module does not know it.
public struct CommandSpec<Context: Sendable>: Sendable {
    public let path: [String]
    public let overview: String
    public let usage: String
    public var arguments: [(String, String)] = []
    public var options: [OptionSpec] = []
    public var subcommands: [(String, String)] = []
    public var discussion: String? = nil
    /// The command stops cleanly when its context's cancellation is set, so the program turns
    /// interrupt signals into that cancellation instead of dying on them.
    public var observesCancellation = false
    public var run: (@Sendable (Parsed<Context>) throws -> Int32)?

    public init(path: [String], overview: String, usage: String, arguments: [(String, String)] = [], options: [OptionSpec] = [],
                subcommands: [(String, String)] = [], discussion: String? = nil, observesCancellation: Bool = false,
                run: (@Sendable (Parsed<Context>) throws -> Int32)? = nil) {
        self.path = path
        self.overview = overview
        self.usage = usage
        self.arguments = arguments
        self.options = options
        self.subcommands = subcommands
        self.discussion = discussion
        self.observesCancellation = observesCancellation
        self.run = run
    }

    public var name: String { (["rdr"] + path).joined(separator: " ") }

    public func option(named name: String) -> OptionSpec? {
        options.first { $0.names.contains(name) }
    }

    public var help: String {
        var out = "OVERVIEW: \(overview)\n\nUSAGE: \(usage)\n"
        if !arguments.isEmpty {
            out += "\nARGUMENTS:\n"
            for (n, h) in arguments { out += Self.row(n, h) }
        }
        let visible = options.filter { !$0.hidden }
        out += "\nOPTIONS:\n"
        for o in visible {
            let left = o.names.joined(separator: ", ") + (o.value.map { " <\($0)>" } ?? "")
            out += Self.row(left, o.help)
        }
        out += Self.row("-h, --help", "Show help information.")
        if !subcommands.isEmpty {
            out += "\nSUBCOMMANDS:\n"
            for (n, h) in subcommands { out += Self.row(n, h) }
            out += "\n  See 'rdr help <subcommand>' for detailed help.\n"
        }
        if let discussion { out += "\n" + discussion + "\n" }
        return out
    }

    public static func row(_ left: String, _ help: String) -> String {
        let pad = 26
        let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
        var out = "  " + left
        if left.count + 2 >= pad { out += "\n" + String(repeating: " ", count: pad) } else { out += String(repeating: " ", count: pad - 2 - left.count) }
        out += lines.first.map(String.init) ?? ""
        for l in lines.dropFirst() { out += "\n" + String(repeating: " ", count: pad) + l }
        return out + "\n"
    }
}

/// A malformed command line: reported with the command's usage and exit code 64.
public struct UsageError: Error {
    public let message: String
    /// The command's usage line and name, for "Usage: …" and "See '… --help'".
    public let usage: String
    public let commandName: String

    public init<Context>(message: String, command: CommandSpec<Context>) {
        self.message = message
        self.usage = command.usage
        self.commandName = command.name
    }
}

/// The parsed command line of one command.
public struct Parsed<Context: Sendable>: Sendable {
    public let spec: CommandSpec<Context>
    public let context: Context
    public var values: [String: [String]] = [:]
    public var positionals: [String] = []

    init(spec: CommandSpec<Context>, context: Context) {
        self.spec = spec
        self.context = context
    }

    public func has(_ key: String) -> Bool { values[key] != nil }
    public func value(_ key: String) -> String? { values[key]?.last }
    public func all(_ key: String) -> [String] { values[key] ?? [] }

    public func usage(_ message: String) -> UsageError { UsageError(message: message, command: spec) }

    public func required(_ key: String) throws -> String {
        guard let v = value(key) else { throw usage("missing \(key)") }
        return v
    }

    public func size(_ key: String) throws -> Int64? {
        guard let text = value(key) else { return nil }
        do { return try ByteSize.parse(text) } catch { throw usage("\(key): \(error)") }
    }

    /// A size inside `range` (documented in the option's help), refused outside it.
    public func size(_ key: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let n = try size(key) else { return nil }
        guard range.contains(n) else {
            throw usage("\(key) must be from \(ByteSize.compact(range.lowerBound)) to \(ByteSize.compact(range.upperBound)), not \(value(key) ?? "")")
        }
        return n
    }

    /// A whole number inside `range`, refused outside it.
    public func integer(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = value(key) else { return nil }
        guard text.count <= 19, !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(text) else {
            throw usage("\(key) needs a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
        }
        guard range.contains(n) else { throw usage("\(key) must be from \(range.lowerBound) to \(range.upperBound), not \(text)") }
        return n
    }

    /// A whole number of 0 to 2^64-1 (seeds).
    public func unsigned(_ key: String) throws -> UInt64? {
        guard let text = value(key) else { return nil }
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt64(text) else {
            throw usage("\(key) needs a whole number from 0 to 18446744073709551615, not '\(text)'")
        }
        return n
    }

    /// Seconds as plain decimal digits (`0.25`, `30`), inside `range`. No exponents, hex,
    /// infinities or NaN: a duration is for people to type, and each of those has trapped or
    /// spun a sleep loop somewhere.
    public func seconds(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let text = value(key) else { return nil }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let wellFormed = (1...2).contains(parts.count) && parts.allSatisfy { !$0.isEmpty && $0.count <= 12 && $0.allSatisfy { $0.isASCII && $0.isNumber } }
        guard wellFormed, let n = Double(text) else {
            throw usage("\(key) needs a number of seconds from \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound)), not '\(text)'")
        }
        guard range.contains(n) else { throw usage("\(key) must be from \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound)) seconds, not \(text)") }
        return n
    }

    static func format(_ x: Double) -> String { x == x.rounded() ? String(Int64(x)) : String(x) }

    /// Positionals naming disks: each at most once (a disk named twice would be split twice).
    public func distinctPositionals() throws -> [String] {
        var seen = Set<String>()
        for name in positionals where !seen.insert(name).inserted { throw usage("disk '\(name)' is named twice") }
        return positionals
    }

    public func enclosure(_ key: String) throws -> Enclosure? {
        guard let text = value(key) else { return nil }
        guard let e = Enclosure(text: text) else { throw usage("\(key) must be 10 or 11, not '\(text)'") }
        return e
    }

    public func side(_ key: String = "--side") throws -> SideSelector? {
        guard let text = value(key) else { return nil }
        guard let s = SideSelector(text: text) else { throw usage("\(key) must be production, upgrade, 10 or 11, not '\(text)'") }
        return s
    }

    public func positional(_ index: Int, _ name: String) throws -> String {
        guard index < positionals.count else { throw usage("missing \(name)") }
        return positionals[index]
    }

    public func noMorePositionals(than n: Int) throws {
        if positionals.count > n { throw usage("unexpected argument '\(positionals[n])'") }
    }

    public static func parse(_ args: [String], spec: CommandSpec<Context>, context: Context) throws -> Parsed {
        var parsed = Parsed(spec: spec, context: context)
        var i = 0
        var optionsDone = false
        while i < args.count {
            let arg = args[i]
            i += 1
            if optionsDone || !arg.hasPrefix("-") || arg == "-" {
                parsed.positionals.append(arg)
                continue
            }
            if arg == "--" { optionsDone = true; continue }
            var name = arg
            var inline: String?
            if let eq = arg.firstIndex(of: "="), arg.hasPrefix("--") {
                name = String(arg[..<eq])
                inline = String(arg[arg.index(after: eq)...])
            }
            guard let o = spec.option(named: name) else {
                throw UsageError(message: "unknown option '\(name)'", command: spec)
            }
            if let placeholder = o.value {
                let v: String
                if let inline { v = inline } else {
                    guard i < args.count else { throw UsageError(message: "\(name) needs a value <\(placeholder)>", command: spec) }
                    v = args[i]
                    i += 1
                }
                if parsed.values[o.key] != nil && !o.repeatable {
                    throw UsageError(message: "\(name) is given more than once", command: spec)
                }
                parsed.values[o.key, default: []].append(v)
            } else {
                if inline != nil { throw UsageError(message: "\(name) takes no value", command: spec) }
                parsed.values[o.key] = [""]
            }
        }
        return parsed
    }
}
