#if canImport(Glibc)
import Glibc
#endif

/// A port on 127.0.0.1 that refuses every connection for as long as this value lives: a socket
/// bound to it that never listens. Unlike a port that was bound and closed, no other server
/// (another test running beside) can take it meanwhile and answer in its place.
public final class RefusingPort: Sendable {
    private let fd: Int32
    /// The port number.
    public let port: Int

    /// Reserves a free port. - Throws: ``TestFailure`` when no socket can be bound.
    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        guard let bound = bindLoopback(fd, port: 0) else {
            close(fd)
            throw TestFailure("cannot reserve a port")
        }
        self.fd = fd
        port = bound
    }

    /// `http://127.0.0.1:<port>` followed by `path`.
    public func url(_ path: String = "") -> String { "http://127.0.0.1:\(port)\(path)" }

    deinit { close(fd) }
}
