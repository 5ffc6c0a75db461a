/// Access questions a server asks before and between requests; the answers come from the same
/// routing that reads and writes use, so they cannot disagree with the mirror semantics table.
extension VirtualDisk {
    /// The enclosure that is `side` now (the Production Side is the primary enclosure), whose
    /// member image and bitmap carry that side's name.
    public func enclosure(of side: Side) -> Enclosure {
        SideSelector.side(side).enclosure(primary: record.primary)
    }

    /// Refuses (with the engine's `.accessRefused` message) a side that has no access to this
    /// disk in its current mode; a server checks it before it hands the disk to a client.
    public func checkAccess(side: SideSelector?) throws(RDRError) {
        _ = try readMember(side, record)
    }
}
