import EdgeCore
import Foundation
import KVStore
import Testing

@testable import EdgeRuntime

/// Raw signature verifications per second (one core), for the README figures. Off by default:
/// `EDGE_JWT_BENCH=1 swift test --filter JWTThroughputTests` (use `-c release` for real numbers).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["EDGE_JWT_BENCH"] == "1"))
struct JWTThroughputTests {
    @Test(arguments: ["RS256", "ES256", "EdDSA"])
    func rawVerifiesPerSecond(_ name: String) throws {
        let fixtures = JWTFixtures.shared
        let jwt = try JWTToken.parse(fixtures.valid[name]!)
        let algorithm = try #require(JWTAlgorithm(rawValue: name))
        let set = try #require(JWKSet.parse(JWTFixtures.jwksBody))
        let key = try #require(set.key(id: jwt.keyID, for: algorithm))
        let clock = SystemWallClock()
        let start = clock.now()
        var count = 0
        while clock.now() - start < 1.0 {
            for _ in 0..<100 { #expect(key.publicKey.verify(algorithm, signature: jwt.signature, signingInput: jwt.signingInput)) }
            count += 100
        }
        let rate = Double(count) / (clock.now() - start)
        print("JWT raw verify \(name): \(Int(rate)) verifies/s (one core)")
    }

    @Test func cachedTokenVerifiesPerSecond() async throws {
        let fixtures = JWTFixtures.shared
        let auth = JWTAuthenticator(
            name: "bench",
            config: fixtureConfig(),
            fetcher: StubJWKSFetcher(),
            kv: nil,
            clock: ManualClock(fixtures.now)
        )
        let token = fixtures.valid["RS256"]!
        _ = try await auth.verify(bearer: token)
        let clock = SystemWallClock()
        let start = clock.now()
        var count = 0
        while clock.now() - start < 1.0 {
            for _ in 0..<100 { _ = try await auth.verify(bearer: token) }
            count += 100
        }
        print("JWT cached verify: \(Int(Double(count) / (clock.now() - start))) verifies/s (one task)")
    }
}
