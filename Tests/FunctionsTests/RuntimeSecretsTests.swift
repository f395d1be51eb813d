import EdgeRuntime
import EdgeTestSupport
import Foundation
import KVStore
import Synchronization
import Testing

/// Secrets the runtime obtains itself live only in its private namespace (`__edge`), never in a
/// user's KV binding where `kv.api` or `edge-run kv` can read them.
@Suite("Runtime-obtained secrets stay private")
struct RuntimeSecretsTests {
    @Test func theAuth0ManagementTokenIsCachedInThePrivateNamespaceOnly() async throws {
        let tokens = Mutex(0)
        let auth0 = try await FakeProvider.start { r in
            switch r.path {
            case "/oauth/token":
                tokens.withLock { $0 += 1 }
                return .json(["access_token": "mgmt-token-secret", "expires_in": 86_400, "token_type": "Bearer"])
            case "/api/v2/users/user_1":
                return r.headers["authorization"] == "Bearer mgmt-token-secret" ? .json(["user_id": "user_1"]) : .init(status: 401)
            default:
                return .init(status: 404)
            }
        }
        let s = try await RunningServer.start(
            manifest: WhoAmITests.manifest(
                provider: ["preset": "auth0", "domain": "tenant.auth0.com"],
                secrets: ["AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET"],
                vars: ["AUTH0_DOMAIN_BASE": .string(auth0.url())]
            ),
            secrets: ["AUTH0_CLIENT_ID": "cid", "AUTH0_CLIENT_SECRET": "csecret"],
            authenticators: ["idp": WhoAmITests.FixedClaims()]
        )
        let me = try await s.client.get("/me", headers: ["Authorization": "Bearer token-of-user_1"])
        #expect(me.status == 200)
        #expect(me.json["user"]?["user_id"] == "user_1")

        // The user's binding holds the profile cache and nothing else.
        let user = try #require(s.server.env.kvBindings["KV"])
        let names = try await user.list(prefix: nil, limit: 1000, cursor: nil).keys.map(\.name)
        #expect(names == ["user:user_1"])
        for name in names { #expect(try await user.getText(name)?.contains("mgmt-token-secret") == false) }
        // The private namespace has the token, and it is reused: a second lookup asks for no new token.
        let internalKV = try #require(s.server.env.internalKV)
        let cached = try await internalKV.list(prefix: "auth0:management_token:", limit: 10, cursor: nil).keys
        #expect(cached.count == 1)
        #expect(try await internalKV.getText(cached[0].name) == "mgmt-token-secret")
        try await user.delete("user:user_1")
        #expect(try await s.client.get("/me", headers: ["Authorization": "Bearer token-of-user_1"]).status == 200)
        #expect(tokens.withLock { $0 } == 1)
        try await s.stopAndClean()
        try await auth0.stop()
    }
}
