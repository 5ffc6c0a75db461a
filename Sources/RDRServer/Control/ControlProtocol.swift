import RDR

/// The owner's control socket, `<system>/.rdr.control` (a Unix stream socket, mode 0600): how
/// an `rdr` command hands itself to the process that owns the system (tmux's client/server
/// model) and gets back exactly what it would have printed and returned itself.
///
/// ```
/// client                                             owner
/// connect ─────────────────────────────────────────► accept (peer uid must be the owner's or root)
/// request + stdin, stdout, stderr (SCM_RIGHTS) ────► admits it (at most N at once)
///                        ◄───────────────────────── "A": the command runs, in-process, writing
///                                                    to the client's own descriptors (so terminal
///                                                    detection and output are the same)
/// "C" + signal number (SIGINT/SIGTERM/SIGHUP) ─────► cancels the command (it exits 130)
/// end of stream (the client died) ─────────────────► cancels the command
///                        ◄───────────────────────── "X" + exit code (Int32, big endian); close
/// ```
/// Request: magic `RDRC`, version 1, a byte of the client's closed standard streams (bits 0–2:
/// stdin, stdout, stderr), its file-creation mask (UInt16, big endian, bit 15 set when given; an
/// owner that predates them reads three zero bytes), payload length (UInt32, big endian),
/// then the payload: a list of strings, each a UInt32 big-endian length and its UTF-8 bytes:
/// the argument count and arguments, the working directory, the variable count and
/// `NAME=VALUE` pairs. A payload over `maxRequestBytes`, a wrong magic or version, or anything
/// but three descriptors closes the connection without running anything. A connection that
/// ends before "A" ran nothing (an owner that was exiting): the client may try again.
public enum ControlProtocol {
    public static let socketName = ".rdr.control"
    static let magic: [UInt8] = Array("RDRC".utf8)
    static let version: UInt8 = 1
    static let headerSize = 12
    /// Arguments and environment of any real command fit with room to spare.
    public static let maxRequestBytes = 1 << 20
    static let maxStrings = 65_536
    static let cancelTag = UInt8(ascii: "C")
    static let exitTag = UInt8(ascii: "X")
    static let acceptedTag = UInt8(ascii: "A")

    /// A command as a client hands it to the owner.
    public struct Request: Sendable, Equatable {
        public var arguments: [String]
        public var workingDirectory: String
        public var variables: [String: String]
        /// Which of stdin, stdout, stderr (bits 0, 1, 2) the client was started without: /dev/null
        /// is passed in their place, and the command must see them closed as it would at home.
        public var closedStreams: UInt8
        /// The client's file-creation mask, for files the command creates (nil: the owner's).
        public var fileMask: UInt16?

        public init(
            arguments: [String], workingDirectory: String, variables: [String: String], closedStreams: UInt8 = 0,
            fileMask: UInt16? = nil
        ) {
            self.arguments = arguments
            self.workingDirectory = workingDirectory
            self.variables = variables
            self.closedStreams = closedStreams
            self.fileMask = fileMask
        }
    }

    /// Header and payload of `request`, in one buffer.
    static func encode(_ request: Request) -> [UInt8] {
        var payload: [UInt8] = []
        func put(_ value: Int) { payload += withUnsafeBytes(of: UInt32(value).bigEndian, Array.init) }
        func put(_ string: String) {
            put(string.utf8.count)
            payload += string.utf8
        }
        put(request.arguments.count)
        for argument in request.arguments { put(argument) }
        put(request.workingDirectory)
        let pairs = request.variables.sorted { $0.key < $1.key }
        put(pairs.count)
        for (name, value) in pairs { put(name + "=" + value) }
        let mask = request.fileMask.map { $0 & 0o777 | 0x8000 } ?? 0
        return magic + [version, request.closedStreams & 7, UInt8(mask >> 8), UInt8(mask & 0xFF)]
            + withUnsafeBytes(of: UInt32(payload.count).bigEndian, Array.init) + payload
    }

    /// The payload length a header announces, or why the header is refused.
    static func payloadLength(header: [UInt8]) -> Result<Int, ControlError> {
        guard header.count == headerSize, Array(header[0..<4]) == magic else {
            return .failure(.malformed("not an rdr control request"))
        }
        guard header[4] == version else {
            return .failure(.malformed("control protocol version \(header[4]), this rdr speaks \(version)"))
        }
        let length = Int(readUInt32(header, at: 8))
        guard length <= maxRequestBytes else {
            return .failure(.malformed("request of \(length) bytes, more than \(maxRequestBytes)"))
        }
        return .success(length)
    }

    static func decode(payload: [UInt8], header: [UInt8]) -> Result<Request, ControlError> {
        var at = 0
        func string() -> String? {
            guard at + 4 <= payload.count else { return nil }
            let n = Int(readUInt32(payload, at: at))
            guard n <= payload.count - at - 4 else { return nil }
            defer { at += 4 + n }
            return String(validating: payload[(at + 4)..<(at + 4 + n)], as: UTF8.self)
        }
        func count() -> Int? {
            guard at + 4 <= payload.count else { return nil }
            defer { at += 4 }
            let n = Int(readUInt32(payload, at: at))
            return n <= maxStrings ? n : nil
        }
        guard let argc = count() else { return .failure(.malformed("bad argument count")) }
        var arguments: [String] = []
        for _ in 0..<argc {
            guard let a = string() else { return .failure(.malformed("bad argument")) }
            arguments.append(a)
        }
        guard let cwd = string(), cwd.hasPrefix("/") else { return .failure(.malformed("bad working directory")) }
        guard let varc = count() else { return .failure(.malformed("bad variable count")) }
        var variables: [String: String] = [:]
        for _ in 0..<varc {
            guard let pair = string(), let eq = pair.firstIndex(of: "=") else {
                return .failure(.malformed("bad variable"))
            }
            variables[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }
        guard at == payload.count else { return .failure(.malformed("trailing bytes after the request")) }
        let mask = UInt16(header[6]) << 8 | UInt16(header[7])
        return .success(
            Request(
                arguments: arguments, workingDirectory: cwd, variables: variables, closedStreams: header[5] & 7,
                fileMask: mask & 0x8000 != 0 ? mask & 0o777 : nil))
    }

    static func exitFrame(_ code: Int32) -> [UInt8] {
        [exitTag] + withUnsafeBytes(of: UInt32(bitPattern: code).bigEndian, Array.init)
    }

    static func readUInt32(_ bytes: [UInt8], at i: Int) -> UInt32 {
        UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3])
    }
}

enum ControlError: Error, Equatable {
    case malformed(String)
}
