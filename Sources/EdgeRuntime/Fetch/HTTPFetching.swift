/// Outbound HTTP, the one way handlers reach the outside world (`env.fetch`).
///
/// ``CurlFetcher`` is the implementation on libcurl; tests and handlers may substitute their own.
public protocol HTTPFetching: Sendable {
    /// Performs `request`, with the implementation's retry and circuit-breaker policy.
    /// - Returns: the final response, whatever its status (a 5xx left after retries is a response, not an error).
    /// - Throws: ``FetchError`` for transport failures (timeout, connection, TLS, too large,
    ///   circuit open, invalid request); `CancellationError` when the task is cancelled.
    func fetch(_ request: FetchRequest) async throws -> FetchResponse
}

/// An ordered list of HTTP header fields with case-insensitive lookup; repeated names are kept.
public struct FetchHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    /// One header field.
    public struct Field: Sendable, Hashable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The fields in order.
    public private(set) var fields: [Field] = []

    /// Creates headers from name/value pairs, in order.
    public init(_ pairs: [(String, String)] = []) {
        fields = pairs.map { Field(name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) { self.init(elements) }

    /// The first value of `name` (case-insensitive); setting replaces every field of that name,
    /// `nil` removes them.
    public subscript(_ name: String) -> String? {
        get { fields.first { Self.sameName($0.name, name) }?.value }
        set {
            remove(name)
            if let newValue { fields.append(Field(name: name, value: newValue)) }
        }
    }

    /// Every value of `name` (case-insensitive), in order.
    public func values(for name: String) -> [String] {
        fields.filter { Self.sameName($0.name, name) }.map(\.value)
    }

    /// Whether a field named `name` is present (case-insensitive).
    public func contains(_ name: String) -> Bool { self[name] != nil }

    /// Makes room for `count` fields in all.
    public mutating func reserveCapacity(_ count: Int) { fields.reserveCapacity(count) }

    /// Appends a field, keeping existing ones of the same name.
    public mutating func add(name: String, value: String) { fields.append(Field(name: name, value: value)) }

    /// Removes every field named `name` (case-insensitive).
    public mutating func remove(_ name: String) { fields.removeAll { Self.sameName($0.name, name) } }

    /// ASCII case-insensitive equality of header names, without allocating.
    @inline(__always)
    static func sameName(_ a: String, _ b: String) -> Bool {
        let x = a.utf8
        let y = b.utf8
        guard x.count == y.count else { return false }
        if a == b { return true }  // the usual spelling on both sides: one memcmp
        for (c, d) in zip(x, y) where c != d {
            let lc = (c >= 0x41 && c <= 0x5A) ? c | 0x20 : c
            let ld = (d >= 0x41 && d <= 0x5A) ? d | 0x20 : d
            if lc != ld { return false }
        }
        return true
    }

    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }
}

/// One outbound HTTP request and its per-request limits.
public struct FetchRequest: Sendable {
    /// The method, upper-cased on assignment (`GET`, `POST`, …).
    public var method: String { didSet { method = method.uppercased() } }
    /// An absolute `http` or `https` URL.
    public var url: String
    /// Request headers; `Content-Type` is sent only when given here.
    public var headers: FetchHeaders
    /// The body, sent as is (`nil`: none; `POST`/`PUT`/`PATCH` then send `Content-Length: 0`).
    public var body: [UInt8]?
    /// Time allowed to establish the connection (TCP and TLS).
    public var connectTimeout: Duration = .seconds(5)
    /// Time allowed for one whole attempt, connection included.
    public var timeout: Duration = .seconds(30)
    /// Largest response body accepted; past it the transfer is aborted with `.tooLarge`.
    public var maxResponseBytes: Int = 10 * 1024 * 1024
    /// Attempts in all, the first included (1 disables retries). Retries happen only for
    /// idempotent methods or requests with an `Idempotency-Key` header.
    public var maxAttempts: Int = 3
    /// Whether to follow redirects (at most 5, http and https only).
    public var followRedirects: Bool = false

    /// Creates a request.
    public init(method: String = "GET", url: String, headers: FetchHeaders = [:], body: [UInt8]? = nil) {
        self.method = method.uppercased()
        self.url = url
        self.headers = headers
        self.body = body
    }

    /// Creates a request with a UTF-8 string body.
    public init(method: String, url: String, headers: FetchHeaders = [:], body: String) {
        self.init(method: method, url: url, headers: headers, body: Array(body.utf8))
    }

    /// Whether a failed attempt may be repeated: `GET`, `HEAD`, `PUT`, `DELETE`, `OPTIONS`, or
    /// any request carrying an `Idempotency-Key` header.
    public var isRetryable: Bool {
        ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"].contains(method) || headers.contains("Idempotency-Key")
    }
}

/// The answer to a ``FetchRequest``.
public struct FetchResponse: Sendable {
    /// The HTTP status code of the final attempt.
    public var status: Int
    /// Response headers of the final response (after redirects, without interim 1xx).
    public var headers: FetchHeaders
    /// The response body.
    public var body: [UInt8]
    /// How many attempts were made (1 when the first one answered).
    public var attempts: Int

    public init(status: Int, headers: FetchHeaders = [:], body: [UInt8] = [], attempts: Int = 1) {
        self.status = status
        self.headers = headers
        self.body = body
        self.attempts = attempts
    }

    /// The body decoded as UTF-8 (invalid sequences replaced).
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// Whether the status is 2xx.
    public var ok: Bool { (200..<300).contains(status) }
}
