import Glibc

/// Member files: which names a manifest may give them, and how they are opened.
///
/// A member's image and metadata are plain file names inside the system directory: no path, no
/// hidden name (rdr's locks, progress records and logs are hidden), ending in `.img` and
/// `.rdrmeta` — which keeps them clear of the manifest, of the upper layers' files
/// (`session.json`, the activity log) and of every temporary name (`*.tmp`, `*.new`) — and
/// unique across the whole manifest. They are opened without following symbolic links and must
/// be regular files. Together: no edit of the manifest can make a write land on another member,
/// on rdr's own files, or outside the directory.
enum MemberFiles {
    static let imageSuffix = ".img"
    static let metadataSuffix = ".rdrmeta"
    static let rule =
        "each member image (NAME.img) and metadata file (NAME.rdrmeta) must be its own plain file name inside the system directory"

    /// What is wrong with `name` as a member file ending in `suffix`, or nil.
    static func problem(_ name: String, suffix: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.contains("/") || name.contains("\0") { return "is a path, not a plain file name" }
        if name.hasPrefix(".") { return "is a hidden name (those are rdr's locks and records)" }
        if name.utf8.count > 255 { return "is longer than 255 bytes" }
        if !name.hasSuffix(suffix) || name.count == suffix.count { return "does not end in \(suffix)" }
        return nil
    }

    /// Checks every member file name of the manifest; `bad` wraps a finding into the error.
    static func validate(_ disks: [Manifest.Disk], bad: (String) -> RDRError) throws(RDRError) {
        var owner: [String: String] = [:]
        for d in disks {
            for m in d.members {
                for (what, name, suffix) in [("image", m.image, imageSuffix), ("metadata", m.metadata, metadataSuffix)]
                {
                    let who = "disk '\(d.name)' member \(m.enclosure) \(what) '\(name)'"
                    if let p = problem(name, suffix: suffix) { throw bad("\(who) \(p); \(rule)") }
                    if let other = owner[name] { throw bad("\(who) is also \(other); \(rule)") }
                    owner[name] = "disk '\(d.name)' member \(m.enclosure)'s \(what)"
                }
            }
        }
    }

    enum OpenFailure: Error {
        case missing
        case notRegular(String)
        case os(Errno)
    }

    /// Opens a member file, refusing anything but a regular file reached without a link.
    /// `create` makes a missing one (the target image of a full resync).
    static func open(
        _ path: String, _ access: FileDescriptor.Access, create: Bool = false,
        sys: any SystemCalls
    ) throws(OpenFailure) -> (FileDescriptor, FileStatus) {
        let fd: FileDescriptor
        do {
            if create {
                fd = try FileDescriptor.openRaw(
                    path, flags: O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, mode: 0o644, sys: sys)
            } else {
                fd = try FileDescriptor.open(path, access, sys: sys)
            }
        } catch {
            switch error.code {
            case ENOENT: throw .missing
            case ELOOP: throw .notRegular("a symbolic link")
            case EISDIR: throw .notRegular("a directory")
            default: throw .os(error)
            }
        }
        let status: FileStatus
        do { status = try fd.status() } catch {
            fd.close()
            throw .os(error)
        }
        guard status.isRegular else {
            fd.close()
            throw .notRegular(status.kind)
        }
        return (fd, status)
    }

    /// The refusal for a member file that is not a regular file.
    static func notRegular(_ what: String, _ path: String, _ kind: String) -> RDRError {
        RDRError(
            .corrupt,
            "\(what) \(path) is \(kind); member files must be regular files inside the system directory (not links, directories, FIFOs or devices): put the file itself there"
        )
    }
}
