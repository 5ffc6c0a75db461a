import RDR

/// The export names of a disk and what each means: `DISK` is the disk as the Production Side
/// sees it, `DISK@production` / `DISK@upgrade` name a side, `DISK@10` / `DISK@11` an enclosure
/// (whichever side it is now). Which member serves them, and whether they may be used at all,
/// is the mirror semantics table's answer at the moment of each request.
struct ExportName: Equatable, Sendable {
    let text: String
    let disk: String
    let side: SideSelector
    /// For humans: NBD_OPT_LIST details and NBD_INFO_DESCRIPTION.
    let details: String

    static let suffixes: [(String, SideSelector, String)] = [
        ("", .side(.production), "as the Production Side sees it"),
        ("@production", .side(.production), "the Production Side"),
        ("@upgrade", .side(.upgrade), "the Upgrade Side"),
        ("@10", .enclosure(.ten), "enclosure 10 (whichever side it is)"),
        ("@11", .enclosure(.eleven), "enclosure 11 (whichever side it is)"),
    ]

    /// Parses `text` against the served disks; nil for a name that is no export.
    init?(_ text: String, disks: [String]) {
        let at = text.lastIndex(of: "@")
        let disk = at.map { String(text[..<$0]) } ?? text
        let suffix = at.map { String(text[$0...]) } ?? ""
        guard disks.contains(disk), let entry = Self.suffixes.first(where: { $0.0 == suffix }) else { return nil }
        self.text = text
        self.disk = disk
        side = entry.1
        details = "disk \(disk), \(entry.2)"
    }

    /// Every export of `disks` with a description, in NBD_OPT_LIST order.
    static func all(disks: [String]) -> [(name: String, details: String)] {
        disks.flatMap { disk in suffixes.map { (disk + $0.0, "disk \(disk), \($0.2)") } }
    }
}

/// An export a connection uses: its name, the shared disk and the side it acts as.
struct ExportTarget: Sendable {
    let name: ExportName
    let disk: VirtualDisk
}
