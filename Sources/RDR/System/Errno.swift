import Glibc

/// A failed system call: the errno value, the operation and the file it was applied to.
/// Every error that comes from the operating system reaches the user in this shape, so a
/// message always names what was being done to which file.
public struct Errno: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: Int32
    public let operation: String
    public let path: String

    public init(code: Int32, operation: String, path: String) {
        self.code = code
        self.operation = operation
        self.path = path
    }

    public var description: String {
        "\(operation) \(path): \(String(cString: strerror(code)))"
    }
}
