/// The usage line and the `--help` text, generated from the spec (swift-argument-parser's layout).
extension CommandSpec {
    /// `rdr <path> <positionals> <options>`: required options bare, optional ones in brackets,
    /// exclusive ones joined by `|`, repeatable ones followed by `...`; hidden ones left out.
    public var usage: String {
        var parts = ["rdr"] + path
        if !positionals.isEmpty { parts.append(positionals) }
        var groupsDone = Set<String>()
        for o in options where !o.hidden {
            guard let group = o.exclusive else {
                parts.append(o.required ? o.synopsis : "[\(o.synopsis)]")
                continue
            }
            guard groupsDone.insert(group).inserted else { continue }
            let members = options.filter { $0.exclusive == group && !$0.hidden }
            let inner = members.map(\.synopsis).joined(separator: " | ")
            parts.append(members.contains(where: \.required) ? "(\(inner))" : "[\(inner)]")
        }
        return parts.joined(separator: " ")
    }

    public var help: String {
        var out = "OVERVIEW: \(overview)\n\nUSAGE: \(usage)\n"
        if !arguments.isEmpty {
            out += "\nARGUMENTS:\n"
            for (n, h) in arguments { out += Self.row(n, h) }
        }
        out += "\nOPTIONS:\n"
        for o in options where !o.hidden {
            out += Self.row(o.names.joined(separator: ", ") + (o.value.map { " <\($0)>" } ?? ""), o.help)
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

    /// One help row: the left column padded to 26, the help's lines aligned after it.
    public static func row(_ left: String, _ help: String) -> String {
        let pad = 26
        let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
        var out = "  " + left
        if left.count + 2 >= pad {
            out += "\n" + String(repeating: " ", count: pad)
        } else {
            out += String(repeating: " ", count: pad - 2 - left.count)
        }
        out += lines.first.map(String.init) ?? ""
        for l in lines.dropFirst() { out += "\n" + String(repeating: " ", count: pad) + l }
        return out + "\n"
    }
}
