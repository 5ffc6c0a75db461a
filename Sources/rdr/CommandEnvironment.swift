import Glibc
import RDR

/// Where a command's text goes: this process's stdout/stderr, or a forwarding connection.
final class OutputStream: Sendable {
    let isTerminal: Bool
    /// Sends the bytes; returns 0, or the errno of a write that failed.
    private let send: @Sendable ([UInt8]) -> Int32

    init(_ write: @escaping @Sendable ([UInt8]) -> Void, isTerminal: Bool = false) {
        self.send = {
            write($0)
            return 0
        }
        self.isTerminal = isTerminal
    }

    private init(sending send: @escaping @Sendable ([UInt8]) -> Int32, isTerminal: Bool) {
        self.send = send
        self.isTerminal = isTerminal
    }

    static func fileDescriptor(_ fd: Int32) -> OutputStream {
        OutputStream(sending: { FullWrite.writeAll(fd, $0) }, isTerminal: isatty(fd) == 1)
    }

    func write(_ text: String) { _ = send(Array(text.utf8)) }
    func line(_ text: String) { write(text + "\n") }
    func bytes(_ b: [UInt8]) { _ = send(b) }

    /// `bytes` for output that must not be lost silently (`rdr read`): 0, or the errno of the
    /// failed write.
    func checkedBytes(_ b: [UInt8]) -> Int32 { send(b) }
}

/// write(2) until every byte is out (RDR's FileDescriptor writes at offsets; output streams have none).
enum FullWrite {
    /// Writes all of `bytes`, through short writes, EINTR and a non-blocking descriptor's EAGAIN
    /// (a parent may hand us one); 0, or the errno that stopped it.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + done, buffer.count - done)
                if n > 0 {
                    done += n
                    continue
                }
                if n == 0 { return EIO }
                if errno == EINTR { continue }
                guard errno == EAGAIN || errno == EWOULDBLOCK else { return errno }
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, -1)
            }
            return 0
        }
    }
}

/// Everything a command may use besides the files it is asked to touch: a command is a function
/// of this value, so a server process can run it for a client and stream its output back.
struct CommandEnvironment: Sendable {
    var arguments: [String]  // without the program name
    var workingDirectory: String  // relative paths of every option resolve against it
    var variables: [String: String]  // RDR_SYSTEM and every other variable rdr reads
    var stdin: Int32  // for `write --stdin`
    var out: OutputStream
    var err: OutputStream
    var cancellation: CancellationFlag  // set by SIGINT/SIGTERM/SIGHUP (or a forwarded Ctrl-C)
    var openSystem: @Sendable (String) throws(RDRError) -> RDRSystem
    var executable: String  // for background children
    var fileMask = ProcessState.fileMask  // the caller's umask, for files a command creates

    init(
        arguments: [String], workingDirectory: String, variables: [String: String] = [:], stdin: Int32 = STDIN_FILENO,
        out: OutputStream, err: OutputStream, cancellation: CancellationFlag = CancellationFlag(),
        openSystem: @escaping @Sendable (String) throws(RDRError) -> RDRSystem = { path throws(RDRError) in
            try RDRSystem.open(at: path)
        },
        executable: String = "/proc/self/exe"
    ) {
        self.arguments = arguments
        self.workingDirectory = workingDirectory
        self.variables = variables
        self.stdin = stdin
        self.out = out
        self.err = err
        self.cancellation = cancellation
        self.openSystem = openSystem
        self.executable = executable
    }

    /// This process's real arguments, directory, variables and standard streams.
    static func process() -> CommandEnvironment {
        CommandEnvironment(
            arguments: Array(CommandLine.arguments.dropFirst()), workingDirectory: ProcessState.directory ?? ".",
            variables: ProcessState.variables(), out: .fileDescriptor(STDOUT_FILENO),
            err: .fileDescriptor(STDERR_FILENO))
    }

    /// `typed` resolved against `workingDirectory`. Unchanged when absolute or when the working
    /// directory is this process's own, so paths in messages and output read as the user typed them.
    func path(_ typed: String) -> String {
        if typed.hasPrefix("/") || workingDirectory == ProcessState.directory || workingDirectory == "." {
            return typed
        }
        return workingDirectory + (workingDirectory.hasSuffix("/") ? "" : "/") + typed
    }

    /// The command line as typed, for the lock holder's description.
    var commandLine: String { (["rdr"] + arguments).joined(separator: " ") }
}

/// What the process itself was started with.
enum ProcessState {
    /// The current directory (rdr never changes it), nil when it cannot be named (removed).
    static let directory: String? = {
        guard let p = getcwd(nil, 0) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }()

    /// The file-creation mask (umask) this process was started with.
    static let fileMask: mode_t = {
        let mask = umask(0o022)
        umask(mask)
        return mask
    }()

    static func variables() -> [String: String] {
        var result: [String: String] = [:]
        var entry = environ
        while let p = entry.pointee {
            let text = String(cString: p)
            if let eq = text.firstIndex(of: "=") {
                result[String(text[..<eq])] = String(text[text.index(after: eq)...])
            }
            entry += 1
        }
        return result
    }
}
