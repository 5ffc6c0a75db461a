import RDR
import RDRArguments

/// The option values whose types are the engine's: sizes, enclosures and sides (RDRArguments
/// knows only text and numbers).
extension RDRArguments.Parsed {
    func size(_ key: String) throws -> Int64? {
        guard let text = value(key) else { return nil }
        do { return try ByteSize.parse(text) } catch { throw usage("\(key): \(error)") }
    }

    /// A size inside `range` (documented in the option's help), refused outside it.
    func size(_ key: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let n = try size(key) else { return nil }
        guard range.contains(n) else {
            throw usage(
                "\(key) must be from \(ByteSize.compact(range.lowerBound)) to \(ByteSize.compact(range.upperBound)), not \(value(key) ?? "")"
            )
        }
        return n
    }

    func enclosure(_ key: String) throws -> Enclosure? {
        guard let text = value(key) else { return nil }
        guard let e = Enclosure(text: text) else { throw usage("\(key) must be 10 or 11, not '\(text)'") }
        return e
    }

    func side(_ key: String = "--side") throws -> SideSelector? {
        guard let text = value(key) else { return nil }
        guard let s = SideSelector(text: text) else {
            throw usage("\(key) must be production, upgrade, 10 or 11, not '\(text)'")
        }
        return s
    }
}
