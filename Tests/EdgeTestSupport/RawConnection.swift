import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP connection to 127.0.0.1 that stays open between writes — for half-sent
/// requests, idle keep-alive connections and connection limits, which ``rawExchange(port:_:timeout:)``
/// (one write, then read to the end) cannot express.
public final class RawConnection: Sendable {
    private let fd: Int32

    /// Connects to 127.0.0.1:`port`.
    /// - Throws: ``TestFailure`` when the connection is refused.
    public init(port: Int) throws {
        // `self.fd` is set last: a class whose properties are all set runs `deinit` when its
        // init throws, and a second `close` of the number would close whatever descriptor
        // another thread of the test process opened under it meanwhile.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        guard connectLoopback(fd, port: port) else {
            close(fd)
            throw TestFailure("connect failed")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Sends `text` (UTF-8). - Returns: whether all of it was written.
    @discardableResult
    public func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Closes our sending side (the peer reads end-of-file), keeping the receiving side open.
    public func finishSending() { shutdown(fd, Int32(SHUT_WR)) }

    /// Ends the connection both ways (the descriptor itself is closed on deinit).
    public func shutdownBoth() { shutdown(fd, Int32(SHUT_RDWR)) }

    /// What a read up to a deadline saw.
    public struct Received: Sendable {
        /// Everything read, as text.
        public var text: String
        /// The peer closed (or reset) the connection.
        public var closed: Bool
        /// Seconds from the start of the read to the close (or to the deadline).
        public var seconds: Double
    }

    /// Reads until the peer closes the connection, or one complete HTTP response (head plus
    /// `Content-Length` body) arrived when `untilResponse`, or `timeout` passed. Polls without
    /// blocking, so the server under test (in the same process, on the same 2-thread
    /// cooperative pool) keeps running while a test waits.
    public func receive(timeout: Double, untilResponse: Bool = false) async -> Received {
        let start = Date()
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 0) > 0 {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return Received(text: String(decoding: out, as: UTF8.self), closed: true, seconds: Date().timeIntervalSince(start)) }
                out.append(contentsOf: buffer[0..<n])
                if untilResponse, Self.isCompleteResponse(out) {
                    return Received(text: String(decoding: out, as: UTF8.self), closed: false, seconds: Date().timeIntervalSince(start))
                }
                continue
            }
            if Date().timeIntervalSince(start) >= timeout {
                return Received(text: String(decoding: out, as: UTF8.self), closed: false, seconds: timeout)
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Whether `bytes` hold a whole response: a head and as many body bytes as it declares.
    static func isCompleteResponse(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let headEnd = text.range(of: "\r\n\r\n") else { return false }
        let head = text[..<headEnd.lowerBound].lowercased()
        let length =
            head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        return text.utf8.count - text.utf8.distance(from: text.startIndex, to: headEnd.upperBound) >= length
    }
}

/// 127.0.0.1:`port` as a socket address (port 0: any free port, for `bind`).
func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

/// Binds the socket `fd` to 127.0.0.1:`port` (0: a free one).
/// - Returns: the port it is bound to, or `nil` when binding failed.
func bindLoopback(_ fd: Int32, port: Int) -> Int? {
    var address = loopbackAddress(port: port)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    let named = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return bound == 0 && named == 0 ? Int(UInt16(bigEndian: address.sin_port)) : nil
}

/// Connects the socket `fd` to 127.0.0.1:`port`. - Returns: whether it connected.
func connectLoopback(_ fd: Int32, port: Int) -> Bool {
    var address = loopbackAddress(port: port)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}
