import Glibc
import RDR

/// Text files a command writes for the user (a configuration template, an XML log): all of it
/// or nothing (temp file, then rename), through the engine's seam.
enum TextFile {
    /// `name` is the path as the user typed it, for the message.
    static func write(_ text: String, to path: String, named name: String) throws {
        do { try Directory.writeAtomically(Array(text.utf8), to: path, sys: LinuxSystemCalls()) } catch {
            throw RDRError(.io, "cannot write \(name): \(String(cString: strerror(error.code)))")
        }
    }
}
