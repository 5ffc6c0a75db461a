import Glibc

/// Number formatting for messages, in place of Foundation's `String(format:)` (not in
/// FoundationEssentials). Each helper is the C library's printf conversion of the same name, so
/// text stays byte for byte what `String(format:)` printed.
public enum TextFormat {
    /// `%.<decimals>f`: 1.5 with 1 decimal is "1.5", 2.0 with 2 decimals is "2.00".
    public static func fixed(_ value: Double, decimals: Int) -> String {
        printf("%.*f", Int32(max(0, min(decimals, 30))), value)
    }

    /// `%g`: six significant digits, no trailing zeros ("0.25", "1e+06").
    public static func general(_ value: Double) -> String { printf("%g", value) }

    /// `%0<width>d`: 7 with width 2 is "07".
    public static func zeroPadded(_ value: Int, width: Int) -> String {
        printf("%0*ld", Int32(max(0, min(width, 64))), value)
    }

    /// `%0<width>x` (or `X` when `uppercase`): 10 with width 2 is "0a".
    public static func hex(_ value: UInt64, width: Int = 0, uppercase: Bool = false) -> String {
        printf(uppercase ? "%0*lX" : "%0*lx", Int32(max(0, min(width, 64))), value)
    }

    /// `text` without the leading and trailing characters `drop` picks (whitespace and newlines
    /// by default), in place of `trimmingCharacters(in:)`.
    public static func trimmed(_ text: String, where drop: (Character) -> Bool = { $0.isWhitespace }) -> String {
        guard let first = text.firstIndex(where: { !drop($0) }), let last = text.lastIndex(where: { !drop($0) }) else {
            return ""
        }
        return String(text[first...last])
    }

    /// One conversion through vsnprintf; 128 bytes hold every number these helpers print
    /// (a `%.30f` of 1e300 is the longest and is retried with its exact length).
    private static func printf(_ format: String, _ arguments: any CVarArg...) -> String {
        withVaList(arguments) { list in
            var buffer = [CChar](repeating: 0, count: 128)
            let n = Int(vsnprintf(&buffer, buffer.count, format, list))
            if n < buffer.count {
                return String(decoding: buffer.prefix(max(0, n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            return withVaList(arguments) { again in
                var large = [CChar](repeating: 0, count: n + 1)
                _ = vsnprintf(&large, large.count, format, again)
                return String(decoding: large.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
        }
    }
}
