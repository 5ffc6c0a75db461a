/// Path names as strings, for the layers that used NSString's path helpers (Foundation's, not
/// in FoundationEssentials). Plain `/`-separated POSIX paths; nothing touches the filesystem.
public enum PathName {
    /// The directory part: `a/b/c` → `a/b`, `/a` → `/`, `c` → `.`.
    public static func parent(of path: String) -> String {
        let trimmed = trimmingTrailingSlashes(path)
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        let p = String(trimmed[..<slash])
        return p.isEmpty ? "/" : p
    }

    /// The last component: `a/b/c` → `c`, `a/b/` → `b`, `/` → `/`.
    public static func lastComponent(_ path: String) -> String {
        let trimmed = trimmingTrailingSlashes(path)
        if trimmed == "/" { return "/" }
        guard let slash = trimmed.lastIndex(of: "/") else { return trimmed }
        return String(trimmed[trimmed.index(after: slash)...])
    }

    /// `directory/name`, with exactly one slash between them.
    public static func appending(_ name: String, to directory: String) -> String {
        if directory.isEmpty { return name }
        if name.isEmpty { return directory }
        let head = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        let tail = name.hasPrefix("/") ? String(name.dropFirst()) : name
        return head + "/" + tail
    }

    /// The extension of the last component without its dot (`x.Config` → `Config`), or "".
    public static func pathExtension(_ path: String) -> String {
        let last = lastComponent(path)
        guard let dot = last.lastIndex(of: "."), dot != last.startIndex else { return "" }
        return String(last[last.index(after: dot)...])
    }

    private static func trimmingTrailingSlashes(_ path: String) -> String {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
        return String(p)
    }
}
