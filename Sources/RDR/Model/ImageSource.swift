import Glibc

/// A raw image a new disk starts from (`rdr init --disk NAME:ROLE:from=FILE`). Everything that
/// would make the import fail for a reason the user can fix is checked here, before init creates
/// anything: the file exists, is readable, is a regular file outside the system directory, holds
/// raw sectors rather than a container format, and is a whole number of 512-byte sectors. Every
/// refusal is of kind `.corrupt` (exit 65): the input image is not one a disk can be made of.
public enum ImageSource {
    static let sectorSize: Int64 = 512
    /// How much of the file's head and tail the format check reads: every magic it knows lies there.
    static let probeBytes = 512

    /// Checks `file` for disk `disk` of the system at `systemPath`; returns its absolute path
    /// (links resolved, so a later `--force` removing a link cannot pull the file away) and size.
    static func inspect(
        _ file: String, disk: String, systemPath: String,
        sys: any SystemCalls
    ) throws(RDRError) -> (path: String, size: Int64) {
        let fd = try open(file, disk: disk, sys: sys)
        defer { fd.close() }
        let status = try io { () throws(Errno) in try fd.status() }
        guard status.isRegular else { throw refusal(disk, "\(file) is \(status.kind), not a raw image file") }
        guard let resolved = realPath(file) else { throw refusal(disk, "\(file): cannot resolve its path") }
        if isInside(resolved, or: file, systemPath) {
            throw refusal(
                disk,
                "\(file) is inside the system directory \(systemPath), where init creates and may replace files; move or copy it out first"
            )
        }
        if let format = try foreignFormat(fd, size: status.size) {
            throw refusal(
                disk,
                "\(file) is a \(format) image, not a raw one; convert it first: qemu-img convert -O raw \(file) out.raw"
            )
        }
        try checkSize(status.size, file: file, disk: disk)
        return (resolved, status.size)
    }

    /// Opens `file` for reading, following links (it is the user's own file, only read) but never
    /// blocking on a FIFO.
    static func open(_ file: String, disk: String, sys: any SystemCalls) throws(RDRError) -> FileDescriptor {
        do {
            return try FileDescriptor.openRaw(file, flags: O_RDONLY | O_CLOEXEC | O_NONBLOCK, mode: 0, sys: sys)
        } catch {
            switch error.code {
            case ENOENT: throw refusal(disk, "\(file) does not exist; give the path of a raw disk image")
            case EACCES, EPERM:
                throw refusal(disk, "\(file) cannot be read (permission denied); give read access or import a copy")
            default: throw refusal(disk, "\(file) cannot be opened: \(String(cString: strerror(error.code)))")
            }
        }
    }

    static func checkSize(_ size: Int64, file: String, disk: String) throws(RDRError) {
        guard size > 0 else { throw refusal(disk, "\(file) is empty; a disk needs at least one 512-byte sector") }
        guard size % sectorSize == 0 else {
            let padded = (size / sectorSize + 1) * sectorSize
            throw refusal(
                disk,
                "\(file) is \(size) bytes, not a whole number of 512-byte sectors; pad it with zeros first: truncate -s \(padded) \(file)"
            )
        }
        guard size <= 1 << 50 else {
            throw refusal(disk, "\(file) is \(ByteSize.format(size)), larger than the 1 PiB limit")
        }
    }

    /// The name of the container format whose magic `fd` starts (or, for a fixed VHD, ends) with;
    /// nil for anything else, which is taken as raw sectors.
    static func foreignFormat(_ fd: FileDescriptor, size: Int64) throws(RDRError) -> String? {
        let head = try io { () throws(Errno) in try fd.readBytes(count: probeBytes, at: 0) }
        if let format = formatOfHeader(head) { return format }
        guard size >= Int64(probeBytes) else { return nil }
        let tail = try io { () throws(Errno) in try fd.readBytes(count: probeBytes, at: size - Int64(probeBytes)) }
        return tail.starts(with: Array("conectix".utf8)) ? "VHD (fixed)" : nil
    }

    /// The container format a file's first bytes name (the magics qemu-img probes for).
    static func formatOfHeader(_ head: [UInt8]) -> String? {
        let magics: [(bytes: [UInt8], format: String)] = [
            ([0x51, 0x46, 0x49, 0xFB], "qcow2"),
            (Array("QED".utf8) + [0], "QED"),
            (Array("KDMV".utf8), "VMDK"),
            (Array("COWD".utf8), "VMDK (COWD)"),
            (Array("# Disk DescriptorFile".utf8), "VMDK descriptor"),
            (Array("vhdxfile".utf8), "VHDX"),
            (Array("conectix".utf8), "VHD"),
            (Array("WithoutFreeSpace".utf8), "Parallels"),
            (Array("WithouFreSpacExt".utf8), "Parallels"),
        ]
        if let hit = magics.first(where: { head.starts(with: $0.bytes) }) { return hit.format }
        // VDI: a text banner, then the signature 0xbeda107f (little endian) at byte 64.
        if head.count >= 68, Array(head[64..<68]) == [0x7F, 0x10, 0xDA, 0xBE] { return "VDI" }
        return nil
    }

    /// Whether the resolved file, or the directory the given path names it in, lies in the
    /// (resolved) system directory. A system directory that does not exist yet holds nothing.
    static func isInside(_ resolved: String, or given: String, _ systemPath: String) -> Bool {
        guard let system = realPath(systemPath) else { return false }
        let prefix = system == "/" ? "/" : system + "/"
        let parent = realPath(PathName.parent(of: given)) ?? ""
        return resolved.hasPrefix(prefix) || parent == system || parent.hasPrefix(prefix)
    }

    /// realpath(3): the path with links, `.` and `..` resolved; nil when it does not exist.
    /// libc's own walk of the names, outside the seam: it only reads the directory tree.
    static func realPath(_ path: String) -> String? {
        guard let p = Glibc.realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    static func refusal(_ disk: String, _ message: String) -> RDRError {
        RDRError(.corrupt, "disk '\(disk)': \(message)")
    }
}

extension DiskSpec {
    /// A `--disk` argument: `NAME:SIZE:ROLE`, or `NAME:ROLE:from=FILE` for a disk whose members
    /// start as copies of the raw image FILE (size taken from it; FILE may contain ':').
    /// Syntax errors are `.invalidArgument`; a FILE that cannot be imported is refused as
    /// `ImageSource.inspect` says.
    public static func parseArgument(
        _ text: String, regionSize: Int64, systemPath: String,
        sys: any SystemCalls = LinuxSystemCalls()
    ) throws(RDRError) -> DiskSpec {
        let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, parts[2].hasPrefix("from=") else { return try parse(text, regionSize: regionSize) }
        let file = String(parts[2].dropFirst("from=".count))
        guard !file.isEmpty else {
            throw RDRError(
                .invalidArgument,
                "disk '\(text)': from= needs a file, as in NAME:ROLE:from=FILE (e.g. boot:mandatory:from=debian.raw)")
        }
        try validateName(parts[0])
        guard let role = DiskRole(rawValue: parts[1].lowercased()) else {
            throw RDRError(.invalidArgument, "disk '\(text)': role '\(parts[1])' is not one of system, data, mandatory")
        }
        let (path, size) = try ImageSource.inspect(file, disk: parts[0], systemPath: systemPath, sys: sys)
        let spec = DiskSpec(name: parts[0], size: size, role: role, regionSize: regionSize, source: path)
        try spec.validate()
        return spec
    }
}
