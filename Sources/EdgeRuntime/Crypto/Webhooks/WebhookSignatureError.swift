/// Why a webhook signature was refused: missing, malformed, mismatched or stale.
///
/// Messages name the header and the reason only; they never contain the secret, the expected
/// signature or the body, so they are safe to log and to return to the caller.
public struct WebhookSignatureError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The reason a signature was refused.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case missing, malformed, mismatch, stale, invalidSecret
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A required header (signature, timestamp or id) is absent or empty.
        public static let missing = Code(.missing)
        /// A header is present but cannot be parsed (no timestamp, no signature of the expected
        /// version, a timestamp that is not an integer).
        public static let malformed = Code(.malformed)
        /// No signature matches the payload under the secret.
        public static let mismatch = Code(.mismatch)
        /// The timestamp is outside the tolerance window (replay protection).
        public static let stale = Code(.stale)
        /// The configured secret cannot be used (for example not `whsec_` + base64). A server
        /// configuration problem, not the sender's fault.
        public static let invalidSecret = Code(.invalidSecret)

        public var description: String { "\(base)" }
    }

    /// The reason.
    public let code: Code
    /// A short explanation that leaks nothing secret.
    public let message: String

    /// Creates an error (the message must not contain secrets or expected signatures).
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
