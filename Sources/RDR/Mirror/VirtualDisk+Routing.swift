/// Which member serves a side, by mode and role (the README's mirror semantics table):
/// duplex writes go to both members; split, each side to its own (a data disk's Upgrade Side
/// has no access); merged, the system runs on the Upgrade Side; resyncing, writes go to both and
/// reads come from the source.
extension VirtualDisk {
    struct Route {
        var members: [Enclosure]
        var mark: [Enclosure]
        var mirroredDuringResync = false
    }

    /// Which members a write from `side` goes to and which bitmaps record it.
    func writeRoute(_ side: SideSelector?, _ r: MirrorRecord) throws(RDRError) -> Route {
        switch r.mode {
        case .duplex:
            return Route(members: [.ten, .eleven], mark: [.ten, .eleven])
        case .resyncing:
            let target = r.resyncTarget ?? r.primary.other
            return Route(members: [target.other, target], mark: [target], mirroredDuringResync: true)
        case .split, .merged:
            let e = try liveMember(side, r)
            return Route(members: [e], mark: [e])
        }
    }

    /// The member that serves `side` while split or merged, or why that side has no access.
    func liveMember(_ side: SideSelector?, _ r: MirrorRecord) throws(RDRError) -> Enclosure {
        guard let side else {
            throw RDRError(
                .invalidArgument,
                "disk '\(name)' is \(r.mode): name the side with --side production|upgrade|10|11")
        }
        let e = side.enclosure(primary: r.primary)
        let isProduction = e == r.primary
        switch r.mode {
        case .split:
            if role == .data && !isProduction {
                throw RDRError(
                    .accessRefused,
                    "the Upgrade Side (enclosure \(e)) has no access to data disk '\(name)' "
                        + "while split; use the Production Side (enclosure \(r.primary))")
            }
            return e
        case .merged:
            // The system runs on the Upgrade Side: the Production Side is stopped for every disk.
            // A system disk's Production member is frozen for abort; a data disk's stays live,
            // served to the Upgrade Side.
            if isProduction && role.isSystem {
                throw RDRError(
                    .accessRefused,
                    "the Production Side (enclosure \(e)) is stopped while merged and its "
                        + "member of '\(name)' is frozen for abort; use the Upgrade Side (enclosure \(r.primary.other))"
                )
            }
            if isProduction {
                throw RDRError(
                    .accessRefused,
                    "the Production Side (enclosure \(e)) is stopped while merged; "
                        + "data disk '\(name)' is served to the Upgrade Side from its Production member "
                        + "(member \(r.primary)): use --side upgrade")
            }
            return role.isSystem ? r.primary.other : r.primary
        case .duplex, .resyncing:
            return e
        }
    }

    /// The member a read from `side` is served from.
    func readMember(_ side: SideSelector?, _ r: MirrorRecord) throws(RDRError) -> Enclosure {
        switch r.mode {
        case .duplex: return side?.enclosure(primary: r.primary) ?? r.primary
        case .resyncing: return r.resyncSource ?? r.primary
        case .split, .merged: return try liveMember(side, r)
        }
    }

    func checkBounds(offset: Int64, length: Int64) throws(RDRError) {
        guard offset >= 0, length >= 0, offset <= size, length <= size - offset else {
            throw RDRError(
                .invalidArgument,
                "offset \(offset) + length \(length) (\(ByteSize.format(length))) "
                    + "is outside disk '\(name)' (\(size) bytes, \(ByteSize.format(size))); keep offset + length ≤ \(size)"
            )
        }
    }
}
