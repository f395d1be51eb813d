import EdgeCore
import Foundation
import KVStore

/// Verifies bearer JWTs for one auth provider: the object the server calls for functions with
/// `"auth": "<provider>"`.
///
/// Order of checks: size limits, structure, `alg` in the provider's `algorithms`, key by `kid`
/// (JWKS fetched and cached, see ``JWKSCache``), key type/curve/`alg` agreeing with the header,
/// signature, then `iss`, `aud`, `exp`, `nbf`, `iat`. A token seen before (by SHA-256) skips
/// straight to the time checks. Every failure is an ``AuthError`` with a short reason.
public final class JWTAuthenticator: Sendable {
    /// The provider's name in the manifest.
    public let name: String
    /// The provider's validated configuration.
    public let config: AuthProviderConfig

    private let clock: any WallClock
    private let jwks: JWKSCache
    private let tokens: VerifiedTokenCache
    private let validator: JWTClaimsValidator
    private let allowed: Set<JWTAlgorithm>

    /// Creates the verifier of one provider.
    /// - Parameters:
    ///   - name: the provider's key under `auth_providers` (names the KV record `jwks:<name>`).
    ///   - config: the validated entry.
    ///   - fetcher: how the JWKS is fetched (the runtime's ``CurlFetcher``).
    ///   - kv: where the last good JWKS is persisted; `nil` keeps it in memory only.
    ///   - clock: the time `exp`/`nbf`/`iat` and cache ages are measured against.
    ///   - tokenCacheCapacity: verified tokens remembered (default 10,000).
    public init(
        name: String,
        config: AuthProviderConfig,
        fetcher: any HTTPFetching,
        kv: (any KVStore)?,
        clock: any WallClock = SystemWallClock(),
        tokenCacheCapacity: Int = 10_000
    ) {
        self.name = name
        self.config = config
        self.clock = clock
        jwks = JWKSCache(
            settings: .init(
                jwksURL: config.jwksURL,
                maxAge: Double(config.jwksCacheMaxAgeSeconds),
                cooldown: Double(config.jwksCooldownSeconds),
                kvKey: "jwks:\(name)"
            ),
            fetcher: fetcher,
            kv: kv,
            clock: clock
        )
        tokens = VerifiedTokenCache(capacity: tokenCacheCapacity)
        validator = JWTClaimsValidator(
            issuer: config.issuer,
            audiences: config.audiences,
            clockTolerance: Double(config.clockToleranceSeconds)
        )
        allowed = Set(config.algorithms)
    }

    /// Verifies a compact JWT.
    /// - Parameter token: the token itself (see ``bearerToken(fromAuthorization:)``).
    /// - Returns: the claims, as a JSON object.
    /// - Throws: ``AuthError`` with a reason safe to send to the client.
    public func verify(bearer token: String) async throws(AuthError) -> JSONValue {
        guard token.utf8.count <= JWTToken.maxTokenBytes else { throw AuthError(.tooLarge) }
        guard !token.isEmpty else { throw AuthError(.missingToken) }
        let digest = VerifiedTokenCache.Digest(token: token)
        if let hit = tokens.lookup(digest, now: clock.now()) {
            try validator.validateTimes(hit.times, now: clock.now())
            return .object(hit.claims)
        }

        let jwt = try JWTToken.parse(token)
        guard let algorithm = JWTAlgorithm(rawValue: jwt.algorithmName), allowed.contains(algorithm) else {
            throw AuthError(.algorithmNotAllowed)
        }
        let key = try await jwks.key(id: jwt.keyID, for: algorithm)
        guard key.accepts(algorithm) else { throw AuthError(.keyMismatch) }
        guard key.publicKey.verify(algorithm, signature: jwt.signature, signingInput: jwt.signingInput) else {
            throw AuthError(.invalidSignature)
        }
        let now = clock.now()
        try validator.validate(jwt.claims, now: now)
        tokens.insert(digest, .init(claims: jwt.claims, times: try TimeClaims(jwt.claims)), now: now)
        return .object(jwt.claims)
    }

    /// The token of an `Authorization` header value `Bearer <token>` (scheme case-insensitive,
    /// surrounding spaces ignored); `nil` for another scheme or an empty token.
    public static func bearerToken(fromAuthorization header: String?) -> String? {
        EdgeRequest.bearerToken(fromAuthorization: header)
    }

    // MARK: Diagnostics (tests)

    /// JWKS fetches started so far.
    var jwksFetchCount: Int { jwks.fetchCount }
    /// Tokens in the verified-token cache.
    var cachedTokenCount: Int { tokens.count }
    /// Waits for a background JWKS refresh to finish.
    func settleJWKS() async { await jwks.settle() }
}
