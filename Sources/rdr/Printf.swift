import Glibc

/// printf's rendering of numbers, as `String(format:)` printed them, without Foundation (which
/// would pull ICU into the binary).
enum Printf {
    /// `format` with numeric conversions only (`%.1f`, `%02d`): text arguments are interpolated.
    static func format(_ format: String, _ args: any CVarArg...) -> String {
        let count = withVaList(args) { vsnprintf(nil, 0, format, $0) }
        guard count > 0 else { return "" }
        var buffer = [CChar](repeating: 0, count: Int(count) + 1)
        _ = withVaList(args) { vsnprintf(&buffer, buffer.count, format, $0) }
        return String(decoding: buffer.prefix(Int(count)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
