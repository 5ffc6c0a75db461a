/// A command: its help text, its usage line and its options are the single source for both
/// parsing and `--help`, so the help cannot drift from what the parser accepts. `Context` is what
/// a command runs against besides its arguments (the program's environment); this module does
/// not know it.
public struct CommandSpec<Context: Sendable>: Sendable {
    public let path: [String]
    public let overview: String
    /// The positional part of the usage line (`<disk>`, `[<disk> ...]`, `<subcommand>`); the
    /// options part is generated from `options`.
    public let positionals: String
    public var arguments: [(String, String)] = []
    public var options: [OptionSpec] = []
    public var subcommands: [(String, String)] = []
    public var discussion: String? = nil
    /// The command stops cleanly when its context's cancellation is set, so the program turns
    /// interrupt signals into that cancellation instead of dying on them.
    public var observesCancellation = false
    public var run: (@Sendable (Parsed<Context>) throws -> Int32)?

    public init(
        path: [String], overview: String, positionals: String = "", arguments: [(String, String)] = [],
        options: [OptionSpec] = [], subcommands: [(String, String)] = [], discussion: String? = nil,
        observesCancellation: Bool = false, run: (@Sendable (Parsed<Context>) throws -> Int32)? = nil
    ) {
        self.path = path
        self.overview = overview
        self.positionals = positionals
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
