/// The on-disk layout of a member's metadata file, field by field (md's `md-bitmap.h` style):
/// every offset the encoder writes and the decoder reads is named here, once. Little endian
/// throughout. Slots are 4 KiB, the unit a disk writes atomically or tears at a sector.
///
/// File:
/// ```
/// offset                     size   what
/// 0                          4 KiB  header slot 0   \ a header goes to slot `events % 2`, so the
/// 4096                       4 KiB  header slot 1   / new copy is durable before the old one is overwritten
/// 8192 + (2p + s) × 4096     4 KiB  bitmap page p, slot s (the newer valid sequence wins)
/// ```
///
/// Header slot (format 2; format 1 has no image identity and its name starts at 104):
/// ```
/// 0     8   magic "RDRMETA1"
/// 8     4   format version (1 or 2)
/// 12    4   reserved, 0
/// 16    8   events: transitions of the mirror record so far
/// 24    16  mirror id (the disk's identity, the manifest's mirrorID)
/// 40    1   enclosure of this member (10 or 11)
/// 41    1   mode (1 duplex, 2 split, 3 merged, 4 resyncing)
/// 42    1   primary enclosure (the Production Side)
/// 43    1   resync source enclosure, 0 = none (set exactly when resyncing)
/// 44    1   mode before the resync, 0 = none
/// 45    3   reserved, 0
/// 48    8   disk size in bytes
/// 56    8   region size in bytes
/// 64    8   base generation
/// 72    8   generation of member 10
/// 80    8   generation of member 11
/// 88    8   bytes the resync planned
/// 96    8   resync start, milliseconds since 1970
/// 104   8   image inode (0 = not recorded)
/// 112   8   image birth time, nanoseconds since 1970 (0 = unknown)
/// 120   2   disk name length n (≤ 255)
/// 122   n   disk name, UTF-8
/// 4092  4   CRC32C of bytes [0, 4092)
/// ```
///
/// Bitmap page slot:
/// ```
/// 0     4   magic "RDRB" (0x42524452)
/// 4     4   page index p
/// 8     8   sequence (the slot written is `sequence % 2`)
/// 16    8   mirror tag: the first 8 bytes of the mirror id (a page of another disk is refused)
/// 24    4   reserved, 0
/// 28    4   CRC32C of bytes [0, 28) and [32, 4096)
/// 32    4064  508 words of 64 region bits: regions [p × 32,512, (p + 1) × 32,512)
/// ```
enum MetadataLayout {
    /// The one slot size: a header slot and a bitmap page slot are each this long.
    static let slotSize = 4096
    static let headerSlots = 2
    static let bitmapOffset = Int64(headerSlots * slotSize)

    /// Where the header with `events` goes: slots alternate, so the previous one survives.
    static func headerOffset(events: UInt64) -> Int64 { Int64(Int(events % 2) * slotSize) }

    static func pageOffset(page: Int, slot: Int) -> Int64 { bitmapOffset + Int64((2 * page + slot) * slotSize) }

    static func pageCount(regions: Int) -> Int { max(1, (regions + Page.regionsPerPage - 1) / Page.regionsPerPage) }

    static func fileLength(regions: Int) -> Int64 { bitmapOffset + Int64(2 * pageCount(regions: regions) * slotSize) }

    enum Header {
        static let magic = 0
        static let version = 8
        static let reserved = 12
        static let events = 16
        static let mirrorID = 24
        static let mirrorIDLength = 16
        static let enclosure = 40
        static let mode = 41
        static let primary = 42
        static let resyncSource = 43
        static let modeBeforeResync = 44
        static let size = 48
        static let regionSize = 56
        static let baseGeneration = 64
        static let generation10 = 72
        static let generation11 = 80
        static let planBytes = 88
        static let resyncStarted = 96
        static let imageInode = 104
        static let imageBirth = 112
        static let maxNameLength = 255
        static let checksum = slotSize - 4

        /// The name's length field: after the image identity in format 2, in its place in format 1.
        static func nameLength(version: UInt32) -> Int { version >= 2 ? 120 : 104 }
    }

    enum Page {
        static let magic = 0
        static let index = 4
        static let sequence = 8
        static let mirrorTag = 16
        static let checksum = 28
        static let words = 32
        static let magicValue: UInt32 = 0x4252_4452  // "RDRB"
        static let wordsPerPage = (slotSize - words) / 8  // 508
        static let regionsPerPage = wordsPerPage * 64  // 32,512
    }

    /// The header checksum: CRC32C of everything before the checksum field.
    static func headerChecksum(_ slot: UnsafeRawBufferPointer) -> UInt32 {
        CRC32C.checksum(UnsafeRawBufferPointer(rebasing: slot[0..<Header.checksum]))
    }

    /// The page checksum: CRC32C of the page header before the checksum field and of the words.
    static func pageChecksum(_ slot: UnsafeRawBufferPointer) -> UInt32 {
        let head = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: slot[0..<Page.checksum]))
        return CRC32C.checksum(UnsafeRawBufferPointer(rebasing: slot[Page.words..<slotSize]), seed: head)
    }

    /// The mirror tag bitmap pages carry: the first 8 bytes of the mirror id.
    static func tag(of mirrorID: [UInt8]) -> UInt64 {
        mirrorID.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }
}
