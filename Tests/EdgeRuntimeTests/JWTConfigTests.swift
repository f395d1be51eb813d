import Testing

@testable import EdgeRuntime

@Suite struct JWTConfigTests {
    func parse(_ json: [String: JSONValue]) throws(AuthConfigError) -> AuthProviderConfig {
        try AuthProviderConfig(json: json)
    }

    func failure(_ json: [String: JSONValue]) -> AuthConfigError? {
        do {
            _ = try parse(json)
            return nil
        } catch {
            return error
        }
    }

    @Test func explicitConfigWithDefaults() throws {
        let config = try parse(["jwks_url": "https://x.clerk.accounts.dev/.well-known/jwks.json", "issuer": "https://x.clerk.accounts.dev"])
        #expect(config.jwksURL == "https://x.clerk.accounts.dev/.well-known/jwks.json")
        #expect(config.issuer == "https://x.clerk.accounts.dev")
        #expect(config.audiences == nil)
        #expect(config.algorithms == [.rs256])
        #expect(config.clockToleranceSeconds == 5)
        #expect(config.jwksCacheMaxAgeSeconds == 600)
        #expect(config.jwksCooldownSeconds == 30)
        #expect(config.preset == nil)
    }

    @Test func designExampleParses() throws {
        let config = try parse([
            "jwks_url": "https://x.clerk.accounts.dev/.well-known/jwks.json", "issuer": "https://x.clerk.accounts.dev",
            "audience": nil, "algorithms": ["RS256", "ES256"], "clock_tolerance_seconds": 5,
            "jwks_cache_max_age_seconds": 600, "jwks_cooldown_seconds": 30,
        ])
        #expect(config.algorithms == [.rs256, .es256])
        #expect(config.audiences == nil)
        #expect(try parse(["jwks_url": "https://a/j", "issuer": "i", "audience": "api"]).audiences == ["api"])
        #expect(try parse(["jwks_url": "https://a/j", "issuer": "i", "audience": ["a", "b"]]).audiences == ["a", "b"])
    }

    @Test func presets() throws {
        let clerk = try parse(["preset": "clerk", "domain": "x.clerk.accounts.dev"])
        #expect(clerk.jwksURL == "https://x.clerk.accounts.dev/.well-known/jwks.json")
        #expect(clerk.issuer == "https://x.clerk.accounts.dev")
        #expect(clerk.algorithms == [.rs256])
        #expect(clerk.preset == .clerk)

        let auth0 = try parse(["preset": "auth0", "domain": "tenant.eu.auth0.com", "audience": "https://api.example.com"])
        #expect(auth0.jwksURL == "https://tenant.eu.auth0.com/.well-known/jwks.json")
        #expect(auth0.issuer == "https://tenant.eu.auth0.com/")
        #expect(auth0.algorithms == [.rs256])
        #expect(auth0.audiences == ["https://api.example.com"])

        let supabase = try parse(["preset": "supabase", "domain": "abcd.supabase.co"])
        #expect(supabase.jwksURL == "https://abcd.supabase.co/auth/v1/.well-known/jwks.json")
        #expect(supabase.issuer == "https://abcd.supabase.co/auth/v1")
        #expect(supabase.algorithms == [.es256, .rs256])
    }

    @Test func presetDomainAsURLKeepsSchemeHostAndPort() throws {
        let local = try parse(["preset": "auth0", "domain": "http://127.0.0.1:8123"])
        #expect(local.jwksURL == "http://127.0.0.1:8123/.well-known/jwks.json")
        #expect(local.issuer == "http://127.0.0.1:8123/")
        let trailing = try parse(["preset": "supabase", "domain": "https://abcd.supabase.co/"])
        #expect(trailing.issuer == "https://abcd.supabase.co/auth/v1")
    }

    @Test func explicitKeysOverrideThePreset() throws {
        let config = try parse(["preset": "clerk", "domain": "x.clerk.accounts.dev", "issuer": "https://clerk.example.com", "algorithms": ["ES256"]])
        #expect(config.issuer == "https://clerk.example.com")
        #expect(config.jwksURL == "https://x.clerk.accounts.dev/.well-known/jwks.json")
        #expect(config.algorithms == [.es256])
    }

    @Test func errorsNameTheKey() {
        let cases: [([String: JSONValue], String)] = [
            (["issuer": "i"], "jwks_url"),
            (["jwks_url": "https://a/j"], "issuer"),
            (["jwks_url": "ftp://a/j", "issuer": "i"], "jwks_url"),
            (["jwks_url": "http://example.com/j", "issuer": "i"], "jwks_url"),
            (["jwks_url": "not a url", "issuer": "i"], "jwks_url"),
            (["jwks_url": "https://a/j", "issuer": ""], "issuer"),
            (["jwks_url": "https://a/j", "issuer": "i", "algorithms": ["RS256", "HS256"]], "algorithms[1]"),
            (["jwks_url": "https://a/j", "issuer": "i", "algorithms": ["none"]], "algorithms[0]"),
            (["jwks_url": "https://a/j", "issuer": "i", "algorithms": ["RS1"]], "algorithms[0]"),
            (["jwks_url": "https://a/j", "issuer": "i", "algorithms": []], "algorithms"),
            (["jwks_url": "https://a/j", "issuer": "i", "audience": 3], "audience"),
            (["jwks_url": "https://a/j", "issuer": "i", "audience": ["a", ""]], "audience[1]"),
            (["jwks_url": "https://a/j", "issuer": "i", "clock_tolerance_seconds": -1], "clock_tolerance_seconds"),
            (["jwks_url": "https://a/j", "issuer": "i", "jwks_cache_max_age_seconds": 0], "jwks_cache_max_age_seconds"),
            (["jwks_url": "https://a/j", "issuer": "i", "jwks_cooldown_seconds": "30"], "jwks_cooldown_seconds"),
            (["jwks_url": "https://a/j", "issuer": "i", "jwks_ur": "x"], "jwks_ur"),
            (["preset": "okta", "domain": "x"], "preset"),
            (["preset": "clerk"], "domain"),
            (["preset": "clerk", "domain": "bad domain"], "domain"),
            (["preset": "clerk", "domain": "https://x.dev/some/path"], "domain"),
            (["domain": "x.dev", "jwks_url": "https://a/j", "issuer": "i"], "domain"),
        ]
        for (json, key) in cases {
            let error = failure(json)
            #expect(error?.key == key, "\(json)")
            #expect(error.map { !$0.message.isEmpty } == true)
        }
        #expect(
            failure(["jwks_url": "https://a/j", "issuer": "i", "algorithms": ["HS256"]])?.description
                .hasPrefix("algorithms[0]: \"HS256\" is not allowed") == true
        )
    }

    @Test func cacheControlMaxAge() {
        #expect(CacheControl.maxAge(nil) == nil)
        #expect(CacheControl.maxAge("public") == nil)
        #expect(CacheControl.maxAge("public, max-age=60, must-revalidate") == 60)
        #expect(CacheControl.maxAge("Max-Age=\"120\"") == 120)
        #expect(CacheControl.maxAge("no-store") == 0)
        #expect(CacheControl.maxAge("max-age=abc") == nil)
    }
}
