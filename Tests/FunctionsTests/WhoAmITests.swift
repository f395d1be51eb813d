import EdgeRuntime
import EdgeTestSupport
import Foundation
import Synchronization
import Testing

/// `auth.whoami` against fake Clerk and Auth0 APIs. Token verification itself is the auth
/// module's (tested with its fixtures); here a stand-in verifier hands the claims over.
@Suite("auth.whoami")
struct WhoAmITests {
    struct FixedClaims: RequestAuthenticator {
        func authenticate(_ request: EdgeRequest) async throws -> JSONValue {
            guard request.bearerToken == "token-of-user_1" else { throw EdgeHTTPError(.unauthorized, "invalid token") }
            return ["sub": "user_1", "iss": "https://example", "exp": 4_102_444_800]
        }
    }

    static func manifest(provider: JSONValue, secrets: [JSONValue], vars: [String: JSONValue]) -> JSONValue {
        [
            "vars": .object(vars), "secrets": .array(secrets), "kv_namespaces": [["binding": "KV"]],
            "auth_providers": ["idp": provider],
            "functions": [["name": "me", "handler": "auth.whoami", "routes": ["GET /me"], "auth": "idp"]],
        ]
    }

    @Test func clerkProfilesAreFetchedOnceAndCached() async throws {
        let clerk = try await FakeProvider.start { r in
            r.path == "/v1/users/user_1" ? .json(["id": "user_1", "first_name": "Ada"]) : .init(status: 404)
        }
        let s = try await RunningServer.start(
            manifest: Self.manifest(
                provider: ["preset": "clerk", "domain": "x.clerk.accounts.dev"],
                secrets: ["CLERK_SECRET_KEY"],
                vars: ["CLERK_API_BASE": .string(clerk.url())]
            ),
            secrets: ["CLERK_SECRET_KEY": "sk_test_123"],
            authenticators: ["idp": FixedClaims()]
        )
        #expect(try await s.client.get("/me").status == 401)
        for _ in 0..<2 {
            let me = try await s.client.get("/me", headers: ["Authorization": "Bearer token-of-user_1"])
            #expect(me.status == 200)
            #expect(me.json["sub"] == "user_1")
            #expect(me.json["claims"]?["iss"] == "https://example")
            #expect(me.json["user"]?["first_name"] == "Ada")
        }
        #expect(clerk.requests.count == 1)
        #expect(clerk.requests.first?.headers["authorization"] == "Bearer sk_test_123")
        try await s.stopAndClean()
        try await clerk.stop()
    }

    @Test func auth0UsesACachedManagementToken() async throws {
        let tokens = Mutex(0)
        let auth0 = try await FakeProvider.start { r in
            switch r.path {
            case "/oauth/token":
                tokens.withLock { $0 += 1 }
                return .json(["access_token": "mgmt-token", "expires_in": 86_400, "token_type": "Bearer"])
            case "/api/v2/users/user_1":
                return r.headers["authorization"] == "Bearer mgmt-token" ? .json(["user_id": "user_1", "email": "a@b.c"]) : .init(status: 401)
            default:
                return .init(status: 404)
            }
        }
        let s = try await RunningServer.start(
            manifest: Self.manifest(
                provider: ["preset": "auth0", "domain": "tenant.auth0.com"],
                secrets: ["AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET"],
                vars: ["AUTH0_DOMAIN_BASE": .string(auth0.url())]
            ),
            secrets: ["AUTH0_CLIENT_ID": "cid", "AUTH0_CLIENT_SECRET": "csecret"],
            authenticators: ["idp": FixedClaims()]
        )
        let me = try await s.client.get("/me", headers: ["Authorization": "Bearer token-of-user_1"])
        #expect(me.status == 200)
        #expect(me.json["user"]?["email"] == "a@b.c")
        let tokenRequest = try #require(auth0.requests.first { $0.path == "/oauth/token" })
        #expect(tokenRequest.json["grant_type"] == "client_credentials")
        #expect(tokenRequest.json["client_id"] == "cid")
        #expect(tokenRequest.json["audience"] == .string(auth0.url("/api/v2/")))
        try await s.stopAndClean()
        try await auth0.stop()
    }

    @Test func withoutProviderSecretsUserIsNullAndProviderFailureIs502() async throws {
        let s = try await RunningServer.start(
            manifest: Self.manifest(provider: ["preset": "supabase", "domain": "p.supabase.co"], secrets: [], vars: [:]),
            authenticators: ["idp": FixedClaims()]
        )
        let me = try await s.client.get("/me", headers: ["Authorization": "Bearer token-of-user_1"])
        #expect(me.status == 200)
        #expect(me.json["user"] == .null)
        try await s.stopAndClean()

        let down = try await FakeProvider.start { _ in .init(status: 500) }
        let t = try await RunningServer.start(
            manifest: Self.manifest(
                provider: ["preset": "clerk", "domain": "x.clerk.accounts.dev"],
                secrets: ["CLERK_SECRET_KEY"],
                vars: ["CLERK_API_BASE": .string(down.url())]
            ),
            secrets: ["CLERK_SECRET_KEY": "sk"],
            authenticators: ["idp": FixedClaims()]
        )
        #expect(try await t.client.get("/me", headers: ["Authorization": "Bearer token-of-user_1"]).status == 502)
        try await t.stopAndClean()
        try await down.stop()
    }
}
