/// Which file a member's image is: recorded in the member's metadata header when the image is
/// created (and again on every legitimate replacement: a full resync, an adoption), checked on
/// every open. A swap (`mv`), a replacement by another file, or a copy of the whole system all
/// give the image a new identity; rdr then reports the disk as `Error` instead of trusting
/// bitmaps that describe other bytes — the one way a swap could reverse a copy's direction.
///
/// Inode plus birth time, not device: a device number can change when the same filesystem is
/// mounted again (loop, USB, network), which is no reason to distrust an image, while a move to
/// another filesystem changes the inode anyway. The birth time tells a reused inode number from
/// the file that had it; where the filesystem reports none it is 0 and only the inode counts.
public struct MemberIdentity: Sendable, Equatable, CustomStringConvertible {
    public var inode: UInt64
    public var birthNanos: UInt64

    public init(inode: UInt64, birthNanos: UInt64) {
        self.inode = inode
        self.birthNanos = birthNanos
    }

    init(_ status: FileStatus) { self.init(inode: status.inode, birthNanos: status.birthNanos) }

    /// Same file: same inode, and the same birth time where both are known.
    func matches(_ other: MemberIdentity) -> Bool {
        inode == other.inode && (birthNanos == 0 || other.birthNanos == 0 || birthNanos == other.birthNanos)
    }

    public var description: String { "inode \(inode)" }
}

/// What the identity check found for one disk.
enum IdentityFinding: Equatable {
    /// Every recorded identity matches (or none was recorded yet: a format 1 header).
    case trusted
    /// Each member's image is the file the other member recorded.
    case swapped
    /// The listed members' images are not the recorded files.
    case changed([Enclosure])

    static func check(recorded: [MemberIdentity?], found: [MemberIdentity]) -> IdentityFinding {
        let changed = Enclosure.allCases.filter { e in recorded[e.index].map { !$0.matches(found[e.index]) } ?? false }
        if changed.isEmpty { return .trusted }
        if let a = recorded[0], let b = recorded[1], a.matches(found[1]), b.matches(found[0]) { return .swapped }
        return .changed(changed)
    }

    /// The refusal, naming the way out: rename back, re-adopt a copied system after verify
    /// checked it, or keep one member with a full resync.
    func error(disk: String, images: [String]) -> RDRError? {
        func name(_ e: Enclosure) -> String {
            images[e.index].split(separator: "/").last.map(String.init) ?? images[e.index]
        }
        switch self {
        case .trusted:
            return nil
        case .swapped:
            return RDRError(
                .corrupt,
                "the member images of disk '\(disk)' are swapped: \(name(.ten)) is member 11's file and \(name(.eleven)) member 10's; rename them back (a resync now would copy in the wrong direction)"
            )
        case .changed(let members) where members.count == 2:
            return RDRError(
                .corrupt,
                "the member images of disk '\(disk)' are not the files its members were created with: the system was copied or restored, or its images replaced. For a copied or restored system, check and re-adopt them with 'rdr disk verify \(disk) --adopt'; otherwise run 'rdr disk verify \(disk)' and keep the right member with 'rdr disk resync \(disk) --from 10|11 --full --force'"
            )
        case .changed(let members):
            let e = members.first ?? .ten
            return RDRError(
                .corrupt,
                "member image \(name(e)) of disk '\(disk)' (enclosure \(e)) is not the file this member was created with: it was replaced, moved in or copied. Run 'rdr disk verify \(disk)', then keep the right member with 'rdr disk resync \(disk) --from \(e.other) --full --force' (overwrites member \(e)) or --from \(e); a system copied as a whole is re-adopted with 'rdr disk verify \(disk) --adopt'"
            )
        }
    }
}
