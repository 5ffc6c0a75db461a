/// The string form of a custom action's `arguments`, split the way a POSIX shell splits words
/// (without expansions): blanks separate arguments; '…' keeps everything literally; "…" keeps
/// everything but lets \" and \\ stand for " and \; outside quotes a backslash keeps the next
/// character. '' or "" is an empty argument. An unterminated quote or a trailing backslash is
/// refused, and so is a NUL (a C string cannot carry it).
public enum ArgumentSplitter {
    public static func split(_ text: String) throws(ArgumentError) -> [String] {
        if text.unicodeScalars.contains("\0") { throw ArgumentError(message: "contains a NUL character") }
        var words: [String] = []
        var word = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for c in text {
            if escaped {
                if quote == "\"" && c != "\"" && c != "\\" { word.append("\\") }
                word.append(c)
                escaped = false
            } else if let q = quote {
                if c == q { quote = nil } else if c == "\\" && q == "\"" { escaped = true } else { word.append(c) }
            } else if c == " " || c == "\t" || c == "\n" {
                if inWord { words.append(word) }
                word = ""
                inWord = false
            } else {
                inWord = true
                if c == "'" || c == "\"" { quote = c } else if c == "\\" { escaped = true } else { word.append(c) }
            }
        }
        if let q = quote { throw ArgumentError(message: "has an unterminated \(q) quote") }
        if escaped { throw ArgumentError(message: "ends with a lone backslash") }
        if inWord { words.append(word) }
        return words
    }

    public struct ArgumentError: Error {
        public let message: String
    }
}
