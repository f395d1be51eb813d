import EdgeCore
import Foundation
import KVStore
import Synchronization
import Testing

@testable import EdgeRuntime

/// The committed JWT fixtures (see Fixtures/jwt/README.md for how they were made).
struct JWTFixtures: Sendable {
    let now: Double
    let issuer: String
    let audience: String
    let jwks: JSONValue
    let jwksRotated: JSONValue
    let rsaPublicPEM: String
    /// A valid token per algorithm name.
    let valid: [String: String]
    /// Named cases: token and expected reason ("ok" for accepted).
    let cases: [String: (token: String, expect: String)]

    static let shared: JWTFixtures = {
        let url = Bundle.module.url(forResource: "Fixtures/jwt/jwt-fixtures", withExtension: "json")!
        let root = try! JSONValue.parse(Data(contentsOf: url))
        return JWTFixtures(
            now: root["now"]!.doubleValue!,
            issuer: root["issuer"]!.stringValue!,
            audience: root["audience"]!.stringValue!,
            jwks: root["jwks"]!,
            jwksRotated: root["jwks_rotated"]!,
            rsaPublicPEM: root["rsa_public_pem"]!.stringValue!,
            valid: root["valid"]!.objectValue!.mapValues { $0.stringValue! },
            cases: root["cases"]!.objectValue!.mapValues { ($0["token"]!.stringValue!, $0["expect"]!.stringValue!) }
        )
    }()

    func token(_ name: String) -> String { cases[name]!.token }

    static var jwksBody: [UInt8] { Array(shared.jwks.serialized()) }
    static var rotatedBody: [UInt8] { Array(shared.jwksRotated.serialized()) }
}

/// An in-memory JWKS endpoint: answers what it is told, counts calls, can hold calls at a gate.
final class StubJWKSFetcher: HTTPFetching {
    private struct State {
        var response = FetchResponse(status: 200, body: JWTFixtures.jwksBody)
        var failure: FetchError?
        var calls = 0
        var gate: [CheckedContinuation<Void, Never>]? = nil
    }
    private let state = Mutex(State())

    var calls: Int { state.withLock { $0.calls } }
    func answer(status: Int = 200, headers: FetchHeaders = [:], body: [UInt8]) {
        state.withLock {
            $0.response = FetchResponse(status: status, headers: headers, body: body)
            $0.failure = nil
        }
    }
    func fail() { state.withLock { $0.failure = FetchError(.connection, "refused") } }
    /// From now on calls wait until ``open()``.
    func close() { state.withLock { $0.gate = [] } }
    func open() {
        let waiting = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            defer { s.gate = nil }
            return s.gate ?? []
        }
        for waiter in waiting { waiter.resume() }
    }
    var waiting: Int { state.withLock { $0.gate?.count ?? 0 } }

    func fetch(_ request: FetchRequest) async throws -> FetchResponse {
        await withCheckedContinuation { continuation in
            let held = state.withLock { s -> Bool in
                s.calls += 1
                guard s.gate != nil else { return false }
                s.gate!.append(continuation)
                return true
            }
            if !held { continuation.resume() }
        }
        let (response, failure) = state.withLock { ($0.response, $0.failure) }
        if let failure { throw failure }
        return response
    }
}

/// A provider config for the fixtures' issuer and audience accepting every algorithm.
func fixtureConfig(
    jwksURL: String = "https://issuer.test/.well-known/jwks.json",
    audience: Bool = true,
    algorithms: [JWTAlgorithm] = JWTAlgorithm.allCases,
    maxAge: Int = 600,
    cooldown: Int = 30
) -> AuthProviderConfig {
    AuthProviderConfig(
        jwksURL: jwksURL,
        issuer: JWTFixtures.shared.issuer,
        audiences: audience ? [JWTFixtures.shared.audience] : nil,
        algorithms: algorithms,
        jwksCacheMaxAgeSeconds: maxAge,
        jwksCooldownSeconds: cooldown
    )
}

/// The AuthError verifying `token` throws, or nil when it verifies.
func authError(_ auth: JWTAuthenticator, _ token: String) async -> AuthError? {
    do {
        _ = try await auth.verify(bearer: token)
        return nil
    } catch {
        return error
    }
}

@Suite struct JWTVerificationTests {
    let fixtures = JWTFixtures.shared

    func makeAuthenticator(
        _ config: AuthProviderConfig = fixtureConfig(),
        fetcher: StubJWKSFetcher = StubJWKSFetcher()
    ) -> (JWTAuthenticator, ManualClock) {
        let clock = ManualClock(fixtures.now)
        return (JWTAuthenticator(name: "test", config: config, fetcher: fetcher, kv: nil, clock: clock), clock)
    }

    @Test(arguments: JWTAlgorithm.allCases)
    func validTokenPerAlgorithm(_ algorithm: JWTAlgorithm) async throws {
        let (auth, _) = makeAuthenticator()
        let claims = try await auth.verify(bearer: try #require(fixtures.valid[algorithm.rawValue]))
        #expect(claims["sub"] == "user_123")
        #expect(claims["iss"]?.stringValue == fixtures.issuer)
    }

    @Test(arguments: JWTFixtures.shared.cases.keys.sorted())
    func fixtureCase(_ name: String) async throws {
        let fetcher = StubJWKSFetcher()
        // Only the rotated set has rsa-2 (the rotation itself is tested in JWKSCacheTests).
        if name == "rotated_rsa2" { fetcher.answer(body: JWTFixtures.rotatedBody) }
        let (auth, _) = makeAuthenticator(fetcher: fetcher)
        let (token, expect) = fixtures.cases[name]!
        let error = await authError(auth, token)
        #expect(error?.reason ?? "ok" == expect, "case \(name)")
    }

    @Test func algorithmOutsideTheAllowedListIsRefused() async {
        let (auth, _) = makeAuthenticator(fixtureConfig(algorithms: [.rs256]))
        for name in ["ES256", "ES384", "PS256", "RS384", "EdDSA"] {
            let error = await authError(auth, fixtures.valid[name]!)
            #expect(error?.code == .algorithmNotAllowed, "\(name)")
        }
        #expect(await authError(auth, fixtures.valid["RS256"]!) == nil)
    }

    @Test func audienceIsNotCheckedWhenNotConfigured() async {
        let (auth, _) = makeAuthenticator(fixtureConfig(audience: false))
        #expect(await authError(auth, fixtures.token("wrong_aud")) == nil)
    }

    @Test func hsTokenIsRefusedEvenWhenOnlyTheRSAKeyExists() async {
        // The attacker's HMAC secret is the RSA public key PEM, exactly as published.
        #expect(fixtures.rsaPublicPEM.hasPrefix("-----BEGIN PUBLIC KEY-----"))
        let (auth, _) = makeAuthenticator(fixtureConfig(algorithms: [.rs256]))
        let error = await authError(auth, fixtures.token("hs256_with_rsa_public_key"))
        #expect(error?.code == .algorithmNotAllowed)
    }

    @Test func emptyAndHugeTokensAreRefusedBeforeParsing() async {
        let (auth, _) = makeAuthenticator()
        #expect(await authError(auth, "")?.code == .missingToken)
        let huge = String(repeating: "a", count: 20_000)
        #expect(await authError(auth, huge)?.code == .tooLarge)
        #expect(await authError(auth, "a.b")?.code == .malformed)
        #expect(await authError(auth, "a.b.c.d")?.code == .malformed)
    }

    @Test func tokenCacheHitSkipsTheSignatureButStillEnforcesExpiry() async throws {
        let fetcher = StubJWKSFetcher()
        let (auth, clock) = makeAuthenticator(fetcher: fetcher)
        let token = fixtures.token("short_lived")  // exp = now + 100
        _ = try await auth.verify(bearer: token)
        #expect(auth.cachedTokenCount == 1)
        // The provider is gone and the JWKS expired: a cache hit needs neither.
        fetcher.fail()
        clock.advance(by: 90)
        #expect(try await auth.verify(bearer: token)["sub"] == "user_123")
        clock.advance(by: 14)  // now = exp + 4: inside the 5 s tolerance
        #expect(await authError(auth, token) == nil)
        clock.advance(by: 2)  // exp + 6
        #expect(await authError(auth, token)?.code == .expired)
        #expect(fetcher.calls == 1)
    }

    @Test func refusedTokensAreNotCached() async {
        let (auth, _) = makeAuthenticator()
        for name in ["tampered_payload", "wrong_iss", "expired"] {
            _ = await authError(auth, fixtures.token(name))
        }
        #expect(auth.cachedTokenCount == 0)
    }

    @Test func verifiedTokenCacheStaysBounded() {
        let cache = VerifiedTokenCache(capacity: 10)
        let live = VerifiedTokenCache.Entry(claims: [:], times: try! TimeClaims(["exp": 2_000]))
        for i in 0..<25 { cache.insert(.init(token: "token-\(i)"), live, now: 1_000) }
        #expect(cache.count <= 10)
        #expect(cache.lookup(.init(token: "token-24"), now: 1_000) != nil)
        #expect(cache.lookup(.init(token: "token-0"), now: 1_000) == nil)
        #expect(cache.lookup(.init(token: "token-24"), now: 2_000) == nil)  // expired entries are dropped
    }

    @Test func bearerTokenExtraction() {
        #expect(JWTAuthenticator.bearerToken(fromAuthorization: "Bearer abc.def.ghi") == "abc.def.ghi")
        #expect(JWTAuthenticator.bearerToken(fromAuthorization: "bearer   abc ") == "abc")
        #expect(JWTAuthenticator.bearerToken(fromAuthorization: "Basic dXNlcjpw") == nil)
        #expect(JWTAuthenticator.bearerToken(fromAuthorization: "Bearer ") == nil)
        #expect(JWTAuthenticator.bearerToken(fromAuthorization: "Bearer a b") == nil)
        #expect(JWTAuthenticator.bearerToken(fromAuthorization: nil) == nil)
    }

    @Test func requestAuthenticatorAnswers401WithTheShortReason() async throws {
        let (auth, _) = makeAuthenticator()
        let ok = EdgeRequest(method: "GET", path: "/me", headers: ["Authorization": "Bearer \(fixtures.valid["ES256"]!)"])
        #expect(try await auth.authenticate(ok)["sub"] == "user_123")
        for (headers, reason) in [
            (EdgeHeaders(), "missing bearer token"),
            (["Authorization": "Bearer \(fixtures.token("expired"))"], "token expired"),
        ] as [(EdgeHeaders, String)] {
            do {
                _ = try await auth.authenticate(EdgeRequest(method: "GET", path: "/me", headers: headers))
                Issue.record("accepted")
            } catch let error as EdgeHTTPError {
                #expect(error.status == 401)
                #expect(error.message == reason)
            }
        }
    }
}
