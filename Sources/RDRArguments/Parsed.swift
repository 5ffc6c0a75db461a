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

    /// A whole number inside `range`, refused outside it.
    public func integer(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = value(key) else { return nil }
        guard text.count <= 19, !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(text) else {
            throw usage("\(key) needs a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
        }
        guard range.contains(n) else {
            throw usage("\(key) must be from \(range.lowerBound) to \(range.upperBound), not \(text)")
        }
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
        let wellFormed =
            (1...2).contains(parts.count)
            && parts.allSatisfy { !$0.isEmpty && $0.count <= 12 && $0.allSatisfy { $0.isASCII && $0.isNumber } }
        guard wellFormed, let n = Double(text) else {
            throw usage(
                "\(key) needs a number of seconds from \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound)), not '\(text)'"
            )
        }
        guard range.contains(n) else {
            throw usage(
                "\(key) must be from \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound)) seconds, not \(text)"
            )
        }
        return n
    }

    static func format(_ x: Double) -> String { x == x.rounded() ? String(Int64(x)) : String(x) }

    /// Positionals naming disks: each at most once (a disk named twice would be split twice).
    public func distinctPositionals() throws -> [String] {
        var seen = Set<String>()
        for name in positionals where !seen.insert(name).inserted { throw usage("disk '\(name)' is named twice") }
        return positionals
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
            if arg == "--" {
                optionsDone = true
                continue
            }
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
                if let inline {
                    v = inline
                } else {
                    guard i < args.count else {
                        throw UsageError(message: "\(name) needs a value <\(placeholder)>", command: spec)
                    }
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
