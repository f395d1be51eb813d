/// A bearer token was refused: a short reason that is safe to send to the client.
///
/// The reason never echoes the token, a key or a claim value; it only names the check that
/// failed ("token expired", "invalid signature", "unknown key"), so the runtime can answer it
/// as a 401 JSON error. A struct around a private code so cases can grow without breaking
/// clients; compare with the static members (`error.code == .expired`).
public struct AuthError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Which check refused the token.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case missingToken, tooLarge, malformed, algorithmNotAllowed, unknownKey, keyMismatch
            case invalidSignature, expired, notYetValid, issuedInFuture, missingExpiry
            case invalidIssuer, invalidAudience, keysUnavailable
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// No `Authorization: Bearer …` credentials.
        public static let missingToken = Code(.missingToken)
        /// The token or its header is over the size limits (checked before parsing).
        public static let tooLarge = Code(.tooLarge)
        /// Not three base64url segments, not JSON, or an unsupported header (`crit`).
        public static let malformed = Code(.malformed)
        /// The header's `alg` is not in the provider's `algorithms` (`none` and `HS*` never are).
        public static let algorithmNotAllowed = Code(.algorithmNotAllowed)
        /// No key in the provider's JWKS has the token's `kid`.
        public static let unknownKey = Code(.unknownKey)
        /// The key's `kty`, `crv` or `alg` disagree with the token's `alg`.
        public static let keyMismatch = Code(.keyMismatch)
        /// The signature does not verify.
        public static let invalidSignature = Code(.invalidSignature)
        /// `exp` has passed (beyond the clock tolerance).
        public static let expired = Code(.expired)
        /// `nbf` is in the future (beyond the clock tolerance).
        public static let notYetValid = Code(.notYetValid)
        /// `iat` is in the future (beyond the clock tolerance).
        public static let issuedInFuture = Code(.issuedInFuture)
        /// The token has no numeric `exp`.
        public static let missingExpiry = Code(.missingExpiry)
        /// `iss` is not the provider's issuer.
        public static let invalidIssuer = Code(.invalidIssuer)
        /// `aud` does not contain a configured audience.
        public static let invalidAudience = Code(.invalidAudience)
        /// No JWKS could be obtained (provider unreachable and nothing cached or persisted).
        public static let keysUnavailable = Code(.keysUnavailable)

        public var description: String { "\(base)" }
    }

    /// The check that failed.
    public let code: Code
    /// A short reason, safe to send to the client and to log.
    public let reason: String

    /// Creates an error; `reason` defaults to the code's standard wording.
    public init(_ code: Code, _ reason: String? = nil) {
        self.code = code
        self.reason = reason ?? Self.standardReason(code)
    }

    public var description: String { reason }

    private static func standardReason(_ code: Code) -> String {
        switch code {
        case .missingToken: "missing bearer token"
        case .tooLarge: "token too large"
        case .malformed: "malformed token"
        case .algorithmNotAllowed: "algorithm not allowed"
        case .unknownKey: "unknown key"
        case .keyMismatch: "key does not match algorithm"
        case .invalidSignature: "invalid signature"
        case .expired: "token expired"
        case .notYetValid: "token not yet valid"
        case .issuedInFuture: "token issued in the future"
        case .missingExpiry: "token has no expiry"
        case .invalidIssuer: "invalid issuer"
        case .invalidAudience: "invalid audience"
        case .keysUnavailable: "signing keys unavailable"
        default: "invalid token"
        }
    }
}
