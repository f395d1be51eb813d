import EdgeCore

/// The time-independent and time-dependent claim checks of one provider.
struct JWTClaimsValidator: Sendable {
    /// The exact `iss` required.
    let issuer: String
    /// Audiences of which `aud` must contain one; `nil` skips the check.
    let audiences: [String]?
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat`.
    let clockTolerance: Double

    /// Checks everything: issuer, audience, then times.
    /// - Throws: ``AuthError`` naming the first failing check.
    func validate(_ claims: [String: JSONValue], now: Double) throws(AuthError) {
        guard claims["iss"]?.stringValue == issuer else { throw AuthError(.invalidIssuer) }
        if let audiences {
            let present: [String]
            switch claims["aud"] {
            case .string(let single)?: present = [single]
            case .array(let many)?: present = many.compactMap(\.stringValue)
            default: present = []
            }
            guard present.contains(where: audiences.contains) else { throw AuthError(.invalidAudience) }
        }
        try validateTimes(try TimeClaims(claims), now: now)
    }

    /// Checks `exp`, `nbf` and `iat` against `now` (also used on a verified-token cache hit).
    func validateTimes(_ times: TimeClaims, now: Double) throws(AuthError) {
        guard let exp = times.expiresAt else { throw AuthError(.missingExpiry) }
        guard now < exp + clockTolerance else { throw AuthError(.expired) }
        if let nbf = times.notBefore, now + clockTolerance < nbf { throw AuthError(.notYetValid) }
        if let iat = times.issuedAt, now + clockTolerance < iat { throw AuthError(.issuedInFuture) }
    }
}

/// The numeric time claims of a token (NumericDate: seconds, possibly fractional).
struct TimeClaims: Sendable, Equatable {
    var expiresAt: Double?
    var notBefore: Double?
    var issuedAt: Double?

    /// Reads the claims; a present one that is not a number makes the token malformed.
    init(_ claims: [String: JSONValue]) throws(AuthError) {
        func number(_ name: String) throws(AuthError) -> Double? {
            guard let value = claims[name] else { return nil }
            guard let seconds = value.doubleValue, seconds.isFinite else { throw AuthError(.malformed) }
            return seconds
        }
        expiresAt = try number("exp")
        notBefore = try number("nbf")
        issuedAt = try number("iat")
    }
}
