import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 client for one long `GET` of a `text/event-stream` (`edge-run tail`): a
/// plain blocking socket, the chunked body decoded, the `data:` lines handed over one by one.
/// Plain `http` only (the tail is a local development tool).
struct EventStreamClient {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The answer when it is not a stream: status and body.
    struct Refusal: Error {
        let status: Int
        let body: String
    }

    let host: String
    let port: Int
    /// Path and query.
    let target: String

    /// Parses `http://host[:port][/base]`, adding `path`.
    init(url: String, path: String) throws {
        guard let components = URLComponents(string: url), components.scheme?.lowercased() == "http", let host = components.host, !host.isEmpty else {
            throw Failure(description: "--url must be a plain http URL such as http://127.0.0.1:8787, not \(url)")
        }
        self.host = host
        port = components.port ?? 80
        let base = components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path
        target = base + path
    }

    /// Connects, sends the request, and calls `onData` with each `data:` line until the server
    /// ends the stream.
    /// - Throws: ``Failure`` when the server cannot be reached or breaks the protocol;
    ///   ``Refusal`` when it answers anything but 200.
    func stream(headers: [(String, String)], onData: (String) -> Void) throws {
        let fd = try connect()
        defer { close(fd) }
        var request = "GET \(target) HTTP/1.1\r\nHost: \(host):\(port)\r\nAccept: text/event-stream\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw Failure(description: "cannot send the request to \(host):\(port)")
        }
        var reader = SocketReader(fd: fd)
        guard let statusLine = try reader.line(), statusLine.hasPrefix("HTTP/1.") else {
            throw Failure(description: "\(host):\(port) did not answer HTTP")
        }
        let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
        var fields: [String: String] = [:]
        while let line = try reader.line(), !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let chunked = fields["transfer-encoding"]?.lowercased().contains("chunked") == true
        guard status == 200 else {
            let length = fields["content-length"].flatMap(Int.init) ?? 0
            let body = chunked ? try reader.dechunkedRest() : try reader.bytes(min(max(length, 0), 1 << 20))
            throw Refusal(status: status, body: String(decoding: body, as: UTF8.self))
        }
        var pending: [UInt8] = []
        func feed(_ data: [UInt8]) {
            pending.append(contentsOf: data)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                let text = String(decoding: line, as: UTF8.self)
                if text.hasPrefix("data:") { onData(String(text.dropFirst(5)).trimmingCharacters(in: .whitespaces)) }
            }
        }
        if chunked {
            while let size = try reader.line() {
                guard let count = Int(size.split(separator: ";").first ?? "", radix: 16), count >= 0 else {
                    throw Failure(description: "malformed chunked stream from \(host):\(port)")
                }
                if count == 0 { return }
                feed(try reader.bytes(count))
                _ = try reader.line()
            }
        } else {
            while let data = try reader.some() { feed(data) }
        }
    }

    private func connect() throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let list else { throw Failure(description: "cannot resolve \(host): \(String(cString: gai_strerror(rc)))") }
        defer { freeaddrinfo(list) }
        var lastError: Int32 = ECONNREFUSED
        var entry: UnsafeMutablePointer<addrinfo>? = list
        while let current = entry {
            let fd = socket(current.pointee.ai_family, current.pointee.ai_socktype, current.pointee.ai_protocol)
            if fd >= 0 {
                if Glibc.connect(fd, current.pointee.ai_addr, current.pointee.ai_addrlen) == 0 { return fd }
                lastError = errno
                close(fd)
            }
            entry = current.pointee.ai_next
        }
        throw Failure(description: "cannot connect to \(host):\(port): \(String(cString: strerror(lastError)))")
    }
}

/// Buffered reads from a blocking socket.
private struct SocketReader {
    let fd: Int32
    var buffer: [UInt8] = []
    var ended = false

    init(fd: Int32) { self.fd = fd }

    /// Reads more into `buffer`. - Returns: `false` at the end of the stream.
    private mutating func fill() throws -> Bool {
        guard !ended else { return false }
        var chunk = [UInt8](repeating: 0, count: 16_384)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 {
            if errno == EINTR { return true }
            throw EventStreamClient.Failure(description: "connection lost: \(String(cString: strerror(errno)))")
        }
        if n == 0 {
            ended = true
            return false
        }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    /// A line without its CRLF; `nil` at the end of the stream.
    mutating func line() throws -> String? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard try fill() else { return nil }
        }
    }

    /// Exactly `count` bytes (fewer only at the end of the stream).
    mutating func bytes(_ count: Int) throws -> [UInt8] {
        while buffer.count < count { guard try fill() else { break } }
        let taken = Array(buffer.prefix(count))
        buffer.removeFirst(taken.count)
        return taken
    }

    /// What is buffered or arrives next; `nil` at the end of the stream.
    mutating func some() throws -> [UInt8]? {
        if buffer.isEmpty { guard try fill() else { return nil } }
        defer { buffer = [] }
        return buffer
    }

    /// The rest of a chunked body, decoded (a refusal's JSON).
    mutating func dechunkedRest() throws -> [UInt8] {
        var out: [UInt8] = []
        while let size = try line(), let count = Int(size.split(separator: ";").first ?? "", radix: 16), count > 0, out.count < 1 << 20 {
            out += try bytes(count)
            _ = try line()
        }
        return out
    }
}
