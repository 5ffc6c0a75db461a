/// Byte-range locks inside one process: a resync worker holds the extent it copies, a writer
/// holds the ranges it writes, and transitions hold the whole disk. A request takes all of
/// its ranges at once or waits, so two holders can never wait on each other (no deadlock).
///
/// `@unchecked Sendable`: `held` and `nextToken` are read and written only while `condition`'s
/// mutex is held, which every method takes first.
final class RangeLock: @unchecked Sendable {
    private let condition = ConditionLock()
    private var held: [Int: [Range<Int64>]] = [:]
    private var nextToken = 0

    struct Token: Sendable { fileprivate let id: Int }

    func lock(_ ranges: [Range<Int64>]) -> Token {
        condition.lock()
        defer { condition.unlock() }
        while conflicts(ranges) { condition.wait() }
        nextToken += 1
        held[nextToken] = ranges
        return Token(id: nextToken)
    }

    func unlock(_ token: Token) {
        condition.withLock {
            held[token.id] = nil
            condition.broadcast()
        }
    }

    func withLock<T, E: Error>(_ ranges: [Range<Int64>], _ body: () throws(E) -> T) throws(E) -> T {
        let token = lock(ranges)
        defer { unlock(token) }
        return try body()
    }

    private func conflicts(_ ranges: [Range<Int64>]) -> Bool {
        for (_, mine) in held {
            for a in mine { for b in ranges where a.overlaps(b) { return true } }
        }
        return false
    }
}
