/// One option of a command. `value` is the placeholder shown in help; nil makes it a flag.
public struct OptionSpec: Sendable {
    public let names: [String]
    public let value: String?
    public let help: String
    public var repeatable = false
    public var hidden = false
    /// Shown bare in the usage line (the command refuses to run without it).
    public var required = false
    /// Options of one group exclude each other: the usage line shows them as `[a | b]`, or
    /// `(a | b)` when one of them is required.
    public var exclusive: String?

    public init(
        names: [String], value: String?, help: String, repeatable: Bool = false, hidden: Bool = false,
        required: Bool = false, exclusive: String? = nil
    ) {
        self.names = names
        self.value = value
        self.help = help
        self.repeatable = repeatable
        self.hidden = hidden
        self.required = required
        self.exclusive = exclusive
    }

    public var key: String { names[0] }

    /// The option as the usage line shows it: `--name <value>`, `--flag`, `--many <v> ...`.
    public var synopsis: String {
        names[0] + (value.map { " <\($0)>" } ?? "") + (repeatable ? " ..." : "")
    }
}
