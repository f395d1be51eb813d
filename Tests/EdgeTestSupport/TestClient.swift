import EdgeRuntime
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP client for tests, on the runtime's own libcurl `fetch` (no retries).
public struct TestClient: Sendable {
    public let base: String
    static let fetcher = CurlFetcher()

    public init(base: String) { self.base = base }

    /// Sends a request; `body` as bytes, or JSON when `json` is given.
    public func request(
        _ method: String, _ path: String, headers: [String: String] = [:], body: Data? = nil, json: JSONValue? = nil
    ) async throws -> FetchResponse {
        var h = FetchHeaders(headers.map { ($0.key, $0.value) })
        var payload = body.map { Array($0) }
        if let json {
            payload = Array(json.serialized())
            if h["Content-Type"] == nil { h["Content-Type"] = "application/json" }
        }
        var request = FetchRequest(method: method, url: base + path, headers: h, body: payload)
        request.maxAttempts = 1
        request.timeout = .seconds(30)
        return try await Self.fetcher.fetch(request)
    }

    public func get(_ path: String, headers: [String: String] = [:]) async throws -> FetchResponse {
        try await request("GET", path, headers: headers)
    }
}

extension FetchResponse {
    /// The body parsed as JSON (`.null` when it is not JSON).
    public var json: JSONValue { (try? JSONValue.parse(Data(body))) ?? .null }
}

/// Writes `bytes` to 127.0.0.1:`port` on a plain socket and reads the answer until the peer
/// closes or `timeout` passes — for requests a normal client will not send (a lying
/// `Content-Length`, a half-sent body).
public func rawExchange(port: Int, _ bytes: [UInt8], timeout: Double = 30) async throws -> String {
    try await Task.detached {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard connectLoopback(fd, port: port) else { throw TestFailure("connect failed") }
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
            if let text = String(bytes: out, encoding: .utf8), let headEnd = text.range(of: "\r\n\r\n") {
                let head = text[..<headEnd.lowerBound].lowercased()
                if let cl = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                   let length = Int(cl.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)),
                   text.utf8.count - text.utf8.distance(from: text.startIndex, to: headEnd.upperBound) >= length {
                    break
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }.value
}
