import EdgeCore
import EdgeTestSupport
import Foundation
import KVStore
import LMDBStorage
import Testing

@testable import EdgeRuntime

/// JWKS fetching, caching, rotation, outages and persistence against a real loopback server
/// through the real ``CurlFetcher``; time moves on a ``ManualClock``.
@Suite struct JWKSCacheTests {
    let fixtures = JWTFixtures.shared

    /// A running JWKS endpoint at `/jwks` serving the fixture JWKS, and a fetcher.
    struct Provider {
        let fake: FakeProvider
        let fetcher: CurlFetcher
        var url: String { fake.url("/jwks") }
        var hits: Int { fake.hits("/jwks") }

        func serve(_ body: [UInt8] = JWTFixtures.jwksBody, status: Int = 200, headers: [String: String] = [:]) {
            let reply = FakeProvider.Reply(status: status, headers: headers, body: Data(body))
            fake.respond { request in request.path == "/jwks" ? reply : FakeProvider.Reply(status: 404) }
        }
    }

    func withProvider(_ body: (Provider) async throws -> Void) async throws {
        let provider = Provider(fake: try await FakeProvider.start(), fetcher: CurlFetcher())
        provider.serve()
        do { try await body(provider) } catch {
            provider.fetcher.shutdown()
            try await provider.fake.stop()
            throw error
        }
        provider.fetcher.shutdown()
        try await provider.fake.stop()
    }

    func authenticator(
        _ url: String,
        fetcher: any HTTPFetching,
        kv: (any KVStore)? = nil,
        clock: ManualClock,
        maxAge: Int = 600,
        cooldown: Int = 30
    ) -> JWTAuthenticator {
        JWTAuthenticator(
            name: "clerk",
            config: fixtureConfig(jwksURL: url, maxAge: maxAge, cooldown: cooldown),
            fetcher: fetcher,
            kv: kv,
            clock: clock,
            tokenCacheCapacity: 1
        )
    }

    /// A token naming `kid` (its signature is irrelevant: the key lookup fails first).
    func tokenWithKid(_ kid: String) -> String {
        let parts = fixtures.valid["RS256"]!.split(separator: ".")
        return Base64.encodeURL(Array(#"{"alg":"RS256","kid":"\#(kid)"}"#.utf8)) + ".\(parts[1]).\(parts[2])"
    }

    @Test func fetchedOnceAndCachedForTheConfiguredAge() async throws {
        try await withProvider { provider in
            let clock = ManualClock(fixtures.now)
            let auth = authenticator(provider.url, fetcher: provider.fetcher, clock: clock)
            for name in ["RS256", "ES256", "EdDSA", "PS256"] { _ = try await auth.verify(bearer: fixtures.valid[name]!) }
            #expect(provider.hits == 1)
            clock.advance(by: 599)
            _ = try await auth.verify(bearer: fixtures.valid["ES384"]!)
            #expect(provider.hits == 1)
            clock.advance(by: 2)  // past 600 s: served from the stale set, refreshed in the background
            _ = try await auth.verify(bearer: fixtures.valid["RS384"]!)
            await auth.settleJWKS()
            #expect(provider.hits == 2)
        }
    }

    @Test func shorterCacheControlMaxAgeIsHonouredButNeverALongerOne() async throws {
        try await withProvider { provider in
            provider.serve(headers: ["Cache-Control": "public, max-age=60"])
            let clock = ManualClock(fixtures.now)
            let auth = authenticator(provider.url, fetcher: provider.fetcher, clock: clock)
            _ = try await auth.verify(bearer: fixtures.valid["RS256"]!)
            clock.advance(by: 61)
            _ = try await auth.verify(bearer: fixtures.valid["ES256"]!)
            await auth.settleJWKS()
            #expect(provider.hits == 2)

            provider.serve(headers: ["Cache-Control": "max-age=86400"])
            clock.advance(by: 61)
            _ = try await auth.verify(bearer: fixtures.valid["ES384"]!)
            await auth.settleJWKS()
            #expect(provider.hits == 3)
            clock.advance(by: 601)  // the config's 600 s still bounds the day the provider asked for
            _ = try await auth.verify(bearer: fixtures.valid["EdDSA"]!)
            await auth.settleJWKS()
            #expect(provider.hits == 4)
        }
    }

    @Test func rotationFetchesOnceForANewKid() async throws {
        try await withProvider { provider in
            let clock = ManualClock(fixtures.now)
            let auth = authenticator(provider.url, fetcher: provider.fetcher, clock: clock)
            _ = try await auth.verify(bearer: fixtures.valid["RS256"]!)
            provider.serve(JWTFixtures.rotatedBody)
            let rotated = fixtures.token("rotated_rsa2")
            // Within the cooldown of the last fetch the new kid is not fetched for.
            #expect(await authError(auth, rotated)?.code == .unknownKey)
            #expect(provider.hits == 1)
            clock.advance(by: 30)
            #expect(try await auth.verify(bearer: rotated)["sub"] == "user_123")
            #expect(provider.hits == 2)
            // Old and new keys both verify from the refreshed set without another fetch.
            _ = try await auth.verify(bearer: fixtures.valid["RS512"]!)
            _ = try await auth.verify(bearer: rotated)
            #expect(provider.hits == 2)
        }
    }

    @Test func unknownKidStormFetchesAtMostOncePerCooldown() async throws {
        try await withProvider { provider in
            let clock = ManualClock(fixtures.now)
            let auth = authenticator(provider.url, fetcher: provider.fetcher, clock: clock)
            _ = try await auth.verify(bearer: fixtures.valid["RS256"]!)
            #expect(provider.hits == 1)
            clock.advance(by: 31)
            for round in 0..<3 {
                let reasons = await withTaskGroup(of: AuthError.Code?.self) { group in
                    for i in 0..<50 {
                        let token = tokenWithKid("storm-\(round)-\(i)")
                        group.addTask { await authError(auth, token)?.code }
                    }
                    return await group.reduce(into: [AuthError.Code?]()) { $0.append($1) }
                }
                #expect(reasons.allSatisfy { $0 == .unknownKey })
                #expect(provider.hits == 2, "round \(round)")
            }
            clock.advance(by: 30)
            _ = await authError(auth, tokenWithKid("later"))
            _ = await authError(auth, tokenWithKid("later-2"))
            #expect(provider.hits == 3)
        }
    }

    @Test func concurrentFirstUseSharesOneFetch() async throws {
        let fetcher = StubJWKSFetcher()
        fetcher.close()
        let clock = ManualClock(fixtures.now)
        let auth = authenticator("https://issuer.test/jwks", fetcher: fetcher, clock: clock)
        let algorithms = ["RS256", "ES256", "EdDSA", "PS256", "ES384"]
        try await withThrowingTaskGroup(of: JSONValue.self) { group in
            for i in 0..<20 {
                let token = fixtures.valid[algorithms[i % algorithms.count]]!
                group.addTask { try await auth.verify(bearer: token) }
            }
            while fetcher.waiting == 0 { await Task.yield() }
            fetcher.open()
            for try await claims in group { #expect(claims["sub"] == "user_123") }
        }
        #expect(fetcher.calls == 1)
    }

    @Test func providerFailingOrAnsweringGarbageKeepsTheLastGoodSet() async throws {
        try await withProvider { provider in
            let clock = ManualClock(fixtures.now)
            let auth = authenticator(provider.url, fetcher: provider.fetcher, clock: clock)
            _ = try await auth.verify(bearer: fixtures.valid["RS256"]!)
            let answers: [(Int, [UInt8])] = [
                (500, Array("oops".utf8)), (200, Array("<html>not json</html>".utf8)),
                (200, Array(#"{"keys": []}"#.utf8)), (200, Array(#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#.utf8)),
            ]
            for (index, (status, body)) in answers.enumerated() {
                provider.serve(body, status: status)
                clock.advance(by: 601)
                _ = try await auth.verify(bearer: fixtures.valid["ES256"]!)
                await auth.settleJWKS()
                #expect(provider.hits == index + 2)
                _ = try await auth.verify(bearer: fixtures.valid["EdDSA"]!)
            }
            // A refused connection (provider process gone) is covered by the restart test below.
        }
    }

    @Test func transportFailureKeepsTheLastGoodSet() async throws {
        let fetcher = StubJWKSFetcher()
        let clock = ManualClock(fixtures.now)
        let auth = authenticator("https://issuer.test/jwks", fetcher: fetcher, clock: clock)
        _ = try await auth.verify(bearer: fixtures.valid["RS256"]!)
        fetcher.fail()
        for (step, name) in ["ES256", "EdDSA", "PS256"].enumerated() {
            clock.advance(by: 700)
            _ = try await auth.verify(bearer: fixtures.valid[name]!)  // not in the token cache
            await auth.settleJWKS()
            #expect(fetcher.calls == 2 + step)
        }
    }

    @Test func noKeysAtAllIsKeysUnavailable() async throws {
        let fetcher = StubJWKSFetcher()
        fetcher.fail()
        let auth = authenticator("https://issuer.test/jwks", fetcher: fetcher, clock: ManualClock(fixtures.now))
        #expect(await authError(auth, fixtures.valid["RS256"]!)?.code == .keysUnavailable)
        #expect(await authError(auth, fixtures.valid["RS256"]!)?.code == .keysUnavailable)
        #expect(fetcher.calls == 1)  // the second attempt waits for the cooldown
    }

    @Test func restartVerifiesFromTheKVPersistedSetWithTheProviderUnreachable() async throws {
        let folder = TemporaryFolder("jwks")
        defer { folder.cleanup() }
        let directory = folder.path
        let clock = ManualClock(fixtures.now)

        try await withProvider { provider in
            let environment = try LMDBEnvironment(path: directory)
            let kv = try await LMDBKVStore.open(environment: environment, binding: "AUTH", clock: clock)
            let auth = authenticator(provider.url, fetcher: provider.fetcher, kv: kv, clock: clock)
            _ = try await auth.verify(bearer: fixtures.valid["RS256"]!)
            #expect(try await kv.get("jwks:clerk") != nil)
            environment.close()
        }

        // A new process: the provider is gone (a closed port), the JWKS is long past its age.
        let refusing = try RefusingPort()
        let closed = refusing.url("/jwks")
        clock.advance(by: 3_600)
        let environment = try LMDBEnvironment(path: directory)
        defer { environment.close() }
        let kv = try await LMDBKVStore.open(environment: environment, binding: "AUTH", clock: clock)
        let fetcher = CurlFetcher()
        defer { fetcher.shutdown() }
        let auth = authenticator(closed, fetcher: fetcher, kv: kv, clock: clock)
        for name in ["RS256", "ES256", "EdDSA"] {
            #expect(try await auth.verify(bearer: fixtures.valid[name]!)["sub"] == "user_123")
        }
        #expect(auth.jwksFetchCount == 1)  // it tried the provider once, then used the persisted set

        // Still fresh when restarted soon after: no fetch at all.
        let fresh = authenticator(closed, fetcher: StubJWKSFetcher(), kv: kv, clock: ManualClock(fixtures.now + 10))
        _ = try await fresh.verify(bearer: fixtures.valid["ES384"]!)
        #expect(fresh.jwksFetchCount == 0)
        withExtendedLifetime(refusing) {}
    }
}
