import EdgeCore
import EdgeRuntime
import EdgeTestSupport
import Foundation
import Queues
import Testing

/// A route with `"auth"` behind the real JWT verifier, with tokens and a JWKS made outside the
/// code under test (`Tests/EdgeRuntimeTests/Fixtures/jwt`, Python `cryptography` + `joserfc`).
@Suite("JWT-protected routes")
struct JWTRouteTests {
    static let fixtures: JSONValue = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("EdgeRuntimeTests/Fixtures/jwt/jwt-fixtures.json")
        return try! JSONValue.parse(Data(contentsOf: url))
    }()

    static func token(_ path: [String]) -> String {
        var v = fixtures
        for p in path { v = v[p] ?? .null }
        return v.stringValue ?? v["token"]?.stringValue ?? ""
    }

    @Test func validTokensReachTheHandlerAndAttacksAre401() async throws {
        let jwks = try await FakeProvider.start { r in
            r.path == "/.well-known/jwks.json" ? .json(Self.fixtures["jwks"]!) : .init(status: 404)
        }
        let manifest: JSONValue = [
            "kv_namespaces": [["binding": "KV"]],
            "auth_providers": [
                "idp": [
                    "jwks_url": .string(jwks.url("/.well-known/jwks.json")), "issuer": Self.fixtures["issuer"]!,
                    "audience": Self.fixtures["audience"]!,
                    "algorithms": ["RS256", "ES256", "EdDSA"],
                ]
            ],
            "functions": [["name": "me", "handler": "auth.whoami", "routes": ["GET /me"], "auth": "idp"]],
        ]
        let clock = ManualClock(Double(Self.fixtures["now"]!.intValue!))
        let s = try await RunningServer.start(manifest: manifest, clock: clock)
        for alg in ["RS256", "ES256", "EdDSA"] {
            let me = try await s.client.get("/me", headers: ["Authorization": "Bearer \(Self.token(["valid", alg]))"])
            #expect(me.status == 200, "\(alg): \(me.text)")
            #expect(me.json["sub"] == "user_123")
            #expect(me.json["claims"]?["iss"] == Self.fixtures["issuer"])
        }
        // RS384 is not in this provider's algorithms.
        #expect(try await s.client.get("/me", headers: ["Authorization": "Bearer \(Self.token(["valid", "RS384"]))"]).status == 401)
        for attack in ["alg_none", "expired", "wrong_iss", "wrong_aud", "alg_mismatch_kty", "bad_base64_payload"] {
            let r = try await s.client.get("/me", headers: ["Authorization": "Bearer \(Self.token(["cases", attack]))"])
            #expect(r.status == 401, "\(attack)")
            #expect(r.json["error"] != nil && r.json["request_id"] != nil)
        }
        #expect(try await s.client.get("/me").status == 401)
        #expect(try await s.client.get("/me", headers: ["Authorization": "Basic abc"]).status == 401)
        // The JWKS was fetched once for all of that.
        #expect(jwks.requests.count == 1)
        try await s.stopAndClean()
        try await jwks.stop()
    }

    @Test func aBadProviderConfigIsAManifestProblemWithItsPath() {
        let manifest: JSONValue = ["auth_providers": ["idp": ["jwks_url": "ftp://nope", "issuer": "x"]]]
        do {
            _ = try ManifestLoader(registry: FunctionRegistry()).validate(
                manifest,
                file: "functions.json",
                baseDirectory: ".",
                environment: [:],
                envFile: [:]
            )
            Issue.record("should fail")
        } catch let error as ManifestError {
            #expect(error.lines.contains { $0.hasPrefix("functions.json: auth_providers.idp.jwks_url: ") }, "\(error.lines)")
        } catch {
            Issue.record("\(error)")
        }
    }
}
