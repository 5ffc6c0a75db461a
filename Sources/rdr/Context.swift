import RDR
import RDRArguments

/// Options every command takes, and the system directory they resolve to (against the
/// environment's working directory).
enum Common {
    static let options = [
        OptionSpec(
            names: ["--system"], value: "dir", help: "System directory (default: $RDR_SYSTEM, else Images/demo).",
            exclusive: "system"),
        OptionSpec(names: ["--name"], value: "name", help: "Use the system Images/<name>.", exclusive: "system"),
    ]

    /// The system directory as the user gave it (option, variable or default).
    static func typedSystemPath(_ p: Parsed) throws -> String {
        if let dir = p.value("--system") {
            if p.has("--name") { throw p.usage("give --system or --name, not both") }
            return dir
        }
        if let name = p.value("--name") {
            do { try DiskSpec.validateName(name, what: "system name") } catch {
                throw p.usage("--name: \(error.message)")
            }
            return "Images/" + name
        }
        if let env = p.env.variables["RDR_SYSTEM"], !env.isEmpty { return env }
        return "Images/demo"
    }

    /// The system directory, resolved against the environment's working directory.
    static func systemPath(_ p: Parsed) throws -> String {
        p.env.path(try typedSystemPath(p))
    }

    static func open(_ p: Parsed) throws -> RDRSystem {
        let typed = try typedSystemPath(p)
        let path = p.env.path(typed)
        do { return try p.env.openSystem(path) } catch {
            // The engine names the directory it was given; say it as the user typed it.
            guard typed != path else { throw error }
            throw RDRError(error.kind, error.message.replacing(path, with: typed))
        }
    }
}
