/// Parses and prints byte sizes with K/M/G/T/P suffixes in powers of 1024.
public enum ByteSize {
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let text: String
        public var description: String {
            let upper = text.uppercased()
            if ["KB", "MB", "GB", "TB", "PB"].contains(where: { upper.hasSuffix($0) }) {
                return
                    "'\(text)' is ambiguous: here K, M, G, T and P are powers of 1024 (1K = 1024 bytes); write K, M, G, T or P (or KiB, MiB, GiB, TiB, PiB), or plain bytes"
            }
            return
                "'\(text)' is not a size; use whole bytes or a number with K, M, G, T or P (KiB, MiB, GiB, TiB, PiB: powers of 1024, 1K = 1024), e.g. 64K or 1G"
        }
    }

    /// Accepted suffixes, case-insensitive. KB, MB… are refused: they mean powers of 1000 to
    /// some tools and 1024 to others, and a size that is misread writes in the wrong place.
    static let suffixes: [(String, Int64)] = [
        ("KIB", 1 << 10), ("MIB", 1 << 20), ("GIB", 1 << 30), ("TIB", 1 << 40), ("PIB", 1 << 50),
        ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40), ("P", 1 << 50),
    ]

    public static func parse(_ text: String) throws(ParseError) -> Int64 {
        var digits = Substring(text)
        var multiplier: Int64 = 1
        let upper = text.uppercased()
        for (suffix, value) in suffixes where upper.hasSuffix(suffix) {
            multiplier = value
            digits = digits.dropLast(suffix.count)
            break
        }
        guard !digits.isEmpty, digits.count <= 19, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            let number = Int64(digits)
        else { throw ParseError(text: text) }
        let (product, overflow) = number.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw ParseError(text: text) }
        return product
    }

    /// "1.5 GiB", "64 KiB", "512 B".
    public static func format(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(bytes)
        var unit = 0
        while abs(value) >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        if value == value.rounded() { return "\(Int64(value)) \(units[unit])" }
        return TextFormat.fixed(value, decimals: 1) + " " + units[unit]
    }

    /// Compact form for flags and names: 64K, 1G, 1T.
    public static func compact(_ bytes: Int64) -> String {
        for (suffix, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)]
        where bytes >= (1 << shift) && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(suffix)"
        }
        return "\(bytes)"
    }
}
