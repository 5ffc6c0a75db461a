/// Group commit of one member's write-intent bits. Writers that set new bits take a ticket
/// (under the disk's state mutex, where they set them); one of them at a time leads: it writes
/// every changed bitmap page and fdatasyncs the metadata file, covering every ticket taken
/// before its snapshot, while the others wait for it. So N writers dirtying new regions at once
/// cost about two syncs, not N, and the sync runs outside the state mutex.
///
/// Only the leader writes pages, and the next leader is chosen after the last one's sync, so a
/// page is never written twice without a sync between: one of its two slots always holds the
/// last durable copy (the torn-write guarantee of `MetadataFile`). A failed sync is sticky:
/// every later wait on this member fails with it (after a failed fsync the file's state is
/// unknown, and a retried fsync proves nothing) until the disk is opened again.
final class WriteIntentCommit: @unchecked Sendable {
    private let condition = ConditionLock()
    private var requested: UInt64 = 0
    private var durable: UInt64 = 0
    private var leading = false
    private var failure: RDRError?

    /// A ticket for bits just set in memory.
    func request() -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        requested += 1
        return requested
    }

    /// The last ticket given (a leader reads it with its snapshot of the bitmap).
    var lastTicket: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return requested
    }

    /// Returns once `ticket`'s bits are durable. When no leader is at work, this caller leads:
    /// `lead` writes the pages and syncs, returning the last ticket its snapshot covered.
    func wait(for ticket: UInt64, lead: () throws(RDRError) -> UInt64) throws(RDRError) {
        condition.lock()
        defer { condition.unlock() }
        while durable < ticket {
            if let failure { throw failure }
            if leading {
                condition.wait()
                continue
            }
            leading = true
            condition.unlock()
            let result: Result<UInt64, RDRError>
            do { result = .success(try lead()) } catch { result = .failure(error) }
            condition.lock()
            leading = false
            switch result {
            case .success(let covered): durable = max(durable, covered)
            case .failure(let error): failure = error
            }
            condition.broadcast()
        }
    }
}
