import Glibc

/// Directory-level operations of the seam: durable rename and directory fsync, atomic file
/// replacement, creating and listing directories, and whole-file copies. Every call goes
/// through `SystemCalls`, so the layers above (sessions, logs, staging copies) can be
/// fault-injected like the engine.
public enum Directory {
    /// Makes a rename or a new file in `directory` durable.
    public static func sync(_ directory: String, sys: any SystemCalls) throws(Errno) {
        let fd = try FileDescriptor.openRaw(directory, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC, mode: 0, sys: sys)
        defer { fd.close() }
        try fd.sync()
    }

    public static func rename(_ from: String, to: String, sys: any SystemCalls) throws(Errno) {
        let r = sys.rename(from, to)
        if r < 0 { throw Errno(code: -r, operation: "rename to \(to) from", path: from) }
    }

    /// Writes `bytes` to `path` atomically: temp file (`NAME.<pid>.tmp`), then rename, so a
    /// reader sees the whole old or the whole new content. `durable` also fsyncs the file before
    /// the rename and the directory after it; display-only files (progress record, lock holder)
    /// skip both, since nothing depends on them surviving a crash and a flush costs every
    /// publish a journal commit.
    public static func writeAtomically(
        _ bytes: [UInt8], to path: String, durable: Bool = true,
        sys: any SystemCalls
    ) throws(Errno) {
        let temp = path + ".\(getpid()).tmp"
        let fd = try FileDescriptor.create(temp, replace: true, sys: sys)
        do throws(Errno) {
            try fd.write(bytes, at: 0)
            if durable { try fd.sync() }
        } catch {
            fd.close()
            _ = sys.unlink(temp)
            throw error
        }
        fd.close()
        do { try rename(temp, to: path, sys: sys) } catch {
            _ = sys.unlink(temp)
            throw error
        }
        if durable { try sync(PathName.parent(of: path), sys: sys) }
    }

    /// Whether `path` exists, following links (a dangling link does not), like access(F_OK).
    public static func exists(_ path: String, sys: any SystemCalls) -> Bool {
        var status = FileStatus()
        return sys.stat(path: path, followLinks: true, &status) == 0
    }

    /// Whether `path` is a directory, following links as `cd` would.
    public static func isDirectory(_ path: String, sys: any SystemCalls) -> Bool {
        var status = FileStatus()
        return sys.stat(path: path, followLinks: true, &status) == 0 && status.isDirectory
    }

    /// Whether `path` is a file this process may execute (a custom action): following links, not
    /// a directory, and access(X_OK) allows it.
    public static func isExecutableFile(_ path: String, sys: any SystemCalls) -> Bool {
        var status = FileStatus()
        guard sys.stat(path: path, followLinks: true, &status) == 0, !status.isDirectory else { return false }
        return sys.access(path, X_OK) == 0
    }

    /// The names in `directory` (no `.`, `..`), in the order the filesystem gives them.
    public static func entries(_ directory: String, sys: any SystemCalls) throws(Errno) -> [String] {
        var names: [String] = []
        let r = sys.listDirectory(directory, &names)
        if r < 0 { throw Errno(code: -r, operation: "list directory", path: directory) }
        return names
    }

    /// Creates `path` and any missing parents; returns the directories it made, outermost
    /// first, so a failed command can remove exactly those (`removeCreated`).
    public static func make(_ path: String, sys: any SystemCalls) throws(Errno) -> [String] {
        var missing: [String] = []
        var p = path
        // Bounded: each step removes a path component.
        while !p.isEmpty, p != "/", p != ".", !exists(p, sys: sys) {
            missing.append(p)
            p = PathName.parent(of: p)
        }
        var made: [String] = []
        for dir in missing.reversed() {
            let r = sys.mkdir(dir, 0o755)
            if r < 0 && -r != EEXIST {
                removeCreated(made, sys: sys)
                throw Errno(code: -r, operation: "create directory", path: dir)
            }
            if r >= 0 { made.append(dir) }
        }
        return made
    }

    /// Removes directories `make` created, innermost first, each only if it is empty.
    public static func removeCreated(_ made: [String], sys: any SystemCalls) {
        for dir in made.reversed() { _ = sys.rmdir(dir) }
    }

    /// Removes `path` and, if it is a directory, everything below it (a session's staging
    /// area), without following links: a link is removed, never what it points to. A missing
    /// `path` is not an error. Nesting deeper than `maxDepth` is refused (ELOOP) before anything
    /// below that depth is touched.
    public static func removeTree(_ path: String, maxDepth: Int = 64, sys: any SystemCalls) throws(Errno) {
        var status = FileStatus()
        let r = sys.stat(path: path, followLinks: false, &status)
        if r == -ENOENT { return }
        if r < 0 { throw Errno(code: -r, operation: "stat", path: path) }
        if status.isDirectory {
            guard maxDepth > 0 else { throw Errno(code: ELOOP, operation: "remove (nested too deep)", path: path) }
            for name in try entries(path, sys: sys) {
                try removeTree(PathName.appending(name, to: path), maxDepth: maxDepth - 1, sys: sys)
            }
            let gone = sys.rmdir(path)
            if gone < 0 && gone != -ENOENT { throw Errno(code: -gone, operation: "remove directory", path: path) }
        } else {
            let gone = sys.unlink(path)
            if gone < 0 && gone != -ENOENT { throw Errno(code: -gone, operation: "remove", path: path) }
        }
    }

    /// Copies the regular file `source` to a new file `target` (replaced if `replace`), in
    /// chunks through one buffer, and makes the copy durable (file, then directory). A failed
    /// copy removes the partial target.
    public static func copyFile(
        _ source: String, to target: String, replace: Bool = false,
        sys: any SystemCalls
    ) throws(Errno) {
        let input = try FileDescriptor.open(source, .readOnly, sys: sys)
        defer { input.close() }
        let output = try FileDescriptor.create(target, replace: replace, sys: sys)
        do throws(Errno) {
            let buffer = AlignedBuffer(count: 1 << 20)
            var offset: Int64 = 0
            while true {
                let n = try input.read(into: buffer.pointer, count: buffer.count, at: offset)
                if n == 0 { break }
                try output.write(from: buffer.pointer, count: n, at: offset)
                offset += Int64(n)
            }
            try output.sync()
        } catch {
            output.close()
            _ = sys.unlink(target)
            throw error
        }
        output.close()
        try sync(PathName.parent(of: target), sys: sys)
    }
}
