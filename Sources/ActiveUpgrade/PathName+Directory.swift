import RDR

extension PathName {
    /// The directory part as Foundation's `deletingLastPathComponent` gave it: "" for a bare
    /// name (a relative file then resolves against the working directory, as it always did).
    static func directory(of path: String) -> String {
        path.contains("/") ? parent(of: path) : ""
    }
}
