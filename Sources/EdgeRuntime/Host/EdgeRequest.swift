import EdgeCore
import Foundation

/// Header fields of requests and responses: the same ordered, case-insensitive list `fetch` uses.
public typealias EdgeHeaders = FetchHeaders

/// An HTTP request as a handler sees it: the raw body as received, path parameters, and the
/// verified auth claims when the function has `"auth"`.
public struct EdgeRequest: Sendable {
    public var method: String
    /// The path as received (percent-encoded), without the query.
    public var path: String
    /// The raw query string without `?` (empty when none).
    public var query: String
    public var headers: EdgeHeaders
    public var body: Data
    /// Path parameters (`:name` segments, percent-decoded; `*` for a trailing wildcard).
    public var params: [String: String]
    /// Verified JWT claims (functions with `"auth"`).
    public var claims: JSONValue?
    /// The request id answered in `X-Request-Id` and in error bodies.
    public var requestID: String
    /// The manifest route that matched (`GET /hello/:name`), when the request came through the router.
    public var route: String?
    /// The peer address, when known (looked up on first use).
    public var remoteAddress: String? {
        get { remoteAddressOverride ?? remoteAddressLookup?() }
        set {
            remoteAddressOverride = newValue
            remoteAddressLookup = nil
        }
    }
    private var remoteAddressOverride: String?
    private var remoteAddressLookup: (@Sendable () -> String?)?

    public init(
        method: String,
        path: String,
        query: String = "",
        headers: EdgeHeaders = EdgeHeaders(),
        body: Data = Data(),
        params: [String: String] = [:],
        claims: JSONValue? = nil,
        requestID: String = "",
        remoteAddress: String? = nil,
        remoteAddressLookup: (@Sendable () -> String?)? = nil
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.params = params
        self.claims = claims
        self.requestID = requestID
        self.remoteAddressOverride = remoteAddress
        self.remoteAddressLookup = remoteAddress == nil ? remoteAddressLookup : nil
    }

    /// Query parameters in order, percent-decoded (`+` as space).
    public var queryItems: [(name: String, value: String)] { FormEncoding.decode(query) }

    /// The first query parameter `name`.
    public func queryParameter(_ name: String) -> String? { queryItems.first { $0.name == name }?.value }

    /// The body as JSON.
    /// - Throws: ``EdgeHTTPError`` 400 when it is not JSON.
    public func json() throws -> JSONValue {
        do { return try JSONValue.parse(body) } catch {
            throw EdgeHTTPError(.badRequest, "request body is not valid JSON")
        }
    }

    /// The body decoded as `T` from JSON.
    /// - Throws: ``EdgeHTTPError`` 400 naming the problem.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: body) } catch {
            throw EdgeHTTPError(.badRequest, "request body is not valid: \(DecodingErrorDescription(error))")
        }
    }

    /// The token of an `Authorization: Bearer <token>` header (see ``EdgeRequest/bearerToken(fromAuthorization:)``).
    public var bearerToken: String? { Self.bearerToken(fromAuthorization: headers["Authorization"]) }

    /// The token of an `Authorization` value `Bearer <token>`: scheme case-insensitive, spaces
    /// around the token ignored; `nil` for another scheme, an empty token or one with a space.
    /// Works on the UTF-8 bytes (tokens are long; this runs on every authenticated request).
    public static func bearerToken(fromAuthorization header: String?) -> String? {
        guard var header else { return nil }
        return header.withUTF8 { bytes in
            bearerTokenRange(in: bytes).map { String(decoding: UnsafeBufferPointer(rebasing: bytes[$0]), as: UTF8.self) }
        }
    }

    /// Where the token of a `Bearer <token>` value lies in its UTF-8 bytes (see
    /// ``bearerToken(fromAuthorization:)``), found without copying them.
    static func bearerTokenRange(in bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }
        var start = 0
        var end = bytes.count
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        let scheme: StaticString = "bearer"
        guard end - start > scheme.utf8CodeUnitCount + 1 else { return nil }
        for i in 0..<scheme.utf8CodeUnitCount where bytes[start + i] | 0x20 != scheme.utf8Start[i] { return nil }
        var tokenStart = start + scheme.utf8CodeUnitCount
        guard isSpace(bytes[tokenStart]) else { return nil }
        while tokenStart < end, isSpace(bytes[tokenStart]) { tokenStart += 1 }
        guard tokenStart < end, !bytes[tokenStart..<end].contains(where: isSpace) else { return nil }
        return tokenStart..<end
    }

    /// Checks `Authorization: Bearer` against `expected` in constant time.
    /// - Throws: ``EdgeHTTPError`` 401 when the token is missing or wrong.
    public func requireBearer(_ expected: String) throws {
        // Compared in place: the admin APIs check this on every request (from the head, and
        // again in `fetch`), so no copy of the header or the token is made.
        guard var header = headers["Authorization"] else { throw EdgeHTTPError(.unauthorized, "missing bearer token") }
        let matched = header.withUTF8 { bytes -> Bool? in
            guard let range = Self.bearerTokenRange(in: bytes) else { return nil }
            return Crypto.constantTimeEquals(UnsafeBufferPointer(rebasing: bytes[range]), expected.utf8)
        }
        guard let matched else { throw EdgeHTTPError(.unauthorized, "missing bearer token") }
        guard matched else { throw EdgeHTTPError(.unauthorized, "invalid bearer token") }
    }

    /// Checks an `Authorization: Bearer` value against each of `expected` in constant time.
    /// - Throws: ``EdgeHTTPError`` 401 when the token is missing or matches none.
    public static func requireBearer(authorization: String?, matching expected: [String]) throws {
        guard let token = bearerToken(fromAuthorization: authorization) else { throw EdgeHTTPError(.unauthorized, "missing bearer token") }
        var matched = false
        for candidate in expected where Crypto.constantTimeEquals(token, candidate) { matched = true }
        guard matched else { throw EdgeHTTPError(.unauthorized, "invalid bearer token") }
    }

    /// The body as `application/x-www-form-urlencoded` parameters.
    public var formParameters: [(name: String, value: String)] { FormEncoding.decode(String(decoding: body, as: UTF8.self)) }
}

/// A short, safe description of a decoding error (no values echoed back).
func DecodingErrorDescription(_ error: any Error) -> String {
    guard let error = error as? DecodingError else { return "malformed JSON" }
    func path(_ context: DecodingError.Context) -> String {
        let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return p.isEmpty ? "body" : String(p.drop { $0 == "." })
    }
    switch error {
    case .keyNotFound(let key, let context): return "\(path(context)).\(key.stringValue) is required".replacingOccurrences(of: "body.", with: "")
    case .typeMismatch(_, let context): return "\(path(context)) has the wrong type"
    case .valueNotFound(_, let context): return "\(path(context)) must not be null"
    case .dataCorrupted(let context): return context.codingPath.isEmpty ? "malformed JSON" : "\(path(context)) is invalid"
    @unknown default: return "malformed JSON"
    }
}

/// `application/x-www-form-urlencoded` encoding and decoding.
public enum FormEncoding {
    /// Decodes `a=1&b=x+y` into pairs.
    public static func decode(_ text: String) -> [(name: String, value: String)] {
        guard !text.isEmpty else { return [] }
        return text.split(separator: "&", omittingEmptySubsequences: true).map { part in
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func unescape(_ s: Substring) -> String {
                let spaced = s.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (unescape(pieces[0]), pieces.count > 1 ? unescape(pieces[1]) : "")
        }
    }

    /// Encodes pairs, escaping everything but unreserved characters.
    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    public static func escape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: unreserved) ?? s
    }
}
