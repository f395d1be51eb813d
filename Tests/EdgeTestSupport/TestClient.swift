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
        _ method: String,
        _ path: String,
        headers: [String: String] = [:],
        body: Data? = nil,
        json: JSONValue? = nil
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

/// Writes `bytes` to 127.0.0.1:`port` on a fresh ``RawConnection`` and reads the answer until
/// the peer closes, one complete response (head plus `Content-Length` body) arrived, or
/// `timeout` passes — for requests a normal client will not send (a lying `Content-Length`, a
/// half-sent body). The read polls, so it never holds a thread of the cooperative pool that the
/// server under test (in the same process) needs to answer.
public func rawExchange(port: Int, _ bytes: [UInt8], timeout: Double = 30) async throws -> String {
    let connection = try RawConnection(port: port)
    connection.send(String(decoding: bytes, as: UTF8.self))
    return await connection.receive(timeout: timeout, untilResponse: true).text
}
