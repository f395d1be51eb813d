/// A crypto helper refused its input (bad encoding, bad key), with a message that names the
/// problem and never echoes secret material.
///
/// A struct around a private code so cases can grow without breaking clients; compare with the
/// static members (`error.code == .invalidHex`).
public struct CryptoError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of input was refused.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case invalidHex, invalidKey, openSSLFailure
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Not an even-length string of hex digits.
        public static let invalidHex = Code(.invalidHex)
        /// A key that cannot be used (for example a webhook secret that is not `whsec_` + base64).
        public static let invalidKey = Code(.invalidKey)
        /// libcrypto reported a failure.
        public static let openSSLFailure = Code(.openSSLFailure)

        public var description: String { "\(base)" }
    }

    /// The kind of failure.
    public let code: Code
    /// A human-readable reason, safe to log.
    public let message: String

    /// Creates an error with a code and a message (the message must not contain secrets).
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
