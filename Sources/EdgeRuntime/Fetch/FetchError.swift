/// An outbound request that produced no HTTP response.
///
/// Messages name the host, never the full URL (query strings can carry secrets). The runtime
/// maps these to 504 (``Code/timeout``) or 502 (everything else) through ``suggestedStatus``.
public struct FetchError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case invalidRequest, timeout, connection, tls, tooLarge, circuitOpen, shutdown
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The request cannot be sent (bad URL or scheme, a header with CR/LF…).
        public static let invalidRequest = Code(.invalidRequest)
        /// The connect or total timeout expired.
        public static let timeout = Code(.timeout)
        /// The connection failed or broke (refused, reset, DNS, empty reply). Retried for
        /// retryable requests.
        public static let connection = Code(.connection)
        /// TLS failed (certificate verification, handshake). Not retried.
        public static let tls = Code(.tls)
        /// The response body passed the request's `maxResponseBytes`.
        public static let tooLarge = Code(.tooLarge)
        /// The host's circuit breaker is open: no call was made.
        public static let circuitOpen = Code(.circuitOpen)
        /// The fetcher was shut down.
        public static let shutdown = Code(.shutdown)

        public var description: String { "\(base)" }
    }

    /// The kind of failure.
    public let code: Code
    /// A short explanation naming the host.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// The status the runtime answers with when a handler lets this error escape: 504 for a
    /// timeout, 502 for every other failure to reach the provider.
    public var suggestedStatus: Int { code == .timeout ? 504 : 502 }
}
