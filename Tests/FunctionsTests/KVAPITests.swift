import EdgeRuntime
import EdgeTestSupport
import Foundation
import Testing

/// `kv.api` exactly as docs/kv.md says.
@Suite("kv.api admin REST")
struct KVAPITests {
    static let token = "admin-token-for-tests"
    static let auth = ["Authorization": "Bearer \(token)"]
    static let manifest: JSONValue = [
        "secrets": ["ADMIN_TOKEN"],
        "kv_namespaces": [["binding": "KV"], ["binding": "SESSIONS"]],
        "functions": [
            [
                "name": "kv-admin", "handler": "kv.api",
                "routes": ["GET /admin/kv/*", "PUT /admin/kv/*", "DELETE /admin/kv/*"],
                "config": ["token_secret": "ADMIN_TOKEN"],
            ]
        ],
    ]

    static func start() async throws -> RunningServer {
        try await RunningServer.start(manifest: manifest, secrets: ["ADMIN_TOKEN": token])
    }

    @Test func putGetDeleteWithExpirationAndMetadata() async throws {
        let s = try await Self.start()
        let c = s.client
        let before = Int64(Date().timeIntervalSince1970)
        let put = try await c.request(
            "PUT",
            "/admin/kv/KV/values/user%3A1?expiration_ttl=120",
            headers: Self.auth.merging(["X-Edge-Metadata": #"{"plan":"pro"}"#]) { $1 },
            body: Data("raw \u{0}bytes".utf8)
        )
        #expect(put.status == 200)
        #expect(put.json == ["success": true])
        let got = try await c.get("/admin/kv/KV/values/user:1", headers: Self.auth)
        #expect(got.status == 200)
        #expect(Data(got.body) == Data("raw \u{0}bytes".utf8))
        let expiration = try #require(got.headers["X-Edge-Expiration"].flatMap(Int64.init))
        // 120 s after the put was handled, whenever that was between sending it and now.
        #expect((before + 120)...(Int64(Date().timeIntervalSince1970) + 121) ~= expiration)
        #expect(got.headers["X-Edge-Metadata"].map { try? JSONValue.parse($0) } == .some(["plan": "pro"]))

        // A put without metadata clears it; a key may contain slashes.
        #expect(try await c.request("PUT", "/admin/kv/KV/values/user:1", headers: Self.auth, body: Data("v2".utf8)).status == 200)
        let again = try await c.get("/admin/kv/KV/values/user:1", headers: Self.auth)
        #expect(again.headers["X-Edge-Metadata"] == nil)
        #expect(again.headers["X-Edge-Expiration"] == nil)
        #expect(try await c.request("PUT", "/admin/kv/KV/values/a/b%2Fc", headers: Self.auth, body: Data("slashes".utf8)).status == 200)
        #expect(try await c.get("/admin/kv/KV/values/a/b/c", headers: Self.auth).text == "slashes")

        let deleted = try await c.request("DELETE", "/admin/kv/KV/values/user:1", headers: Self.auth)
        #expect(deleted.json == ["success": true])
        #expect(try await c.request("DELETE", "/admin/kv/KV/values/user:1", headers: Self.auth).json == ["success": true])
        let gone = try await c.get("/admin/kv/KV/values/user:1", headers: Self.auth)
        #expect(gone.status == 404)
        #expect(gone.json["error"] != nil)
        try await s.stopAndClean()
    }

    @Test func listPagesWithPrefixAndCursor() async throws {
        let s = try await Self.start()
        let c = s.client
        for i in 0..<5 { _ = try await c.request("PUT", "/admin/kv/SESSIONS/values/s:\(i)", headers: Self.auth, body: Data("x".utf8)) }
        _ = try await c.request(
            "PUT",
            "/admin/kv/SESSIONS/values/other?expiration=\(Int(Date().timeIntervalSince1970) + 3600)",
            headers: Self.auth,
            body: Data()
        )
        let page = try await c.get("/admin/kv/SESSIONS/keys?prefix=s:&limit=3", headers: Self.auth)
        #expect(page.status == 200)
        #expect(page.json["keys"]?.arrayValue?.map { $0["name"]?.stringValue } == ["s:0", "s:1", "s:2"])
        #expect(page.json["list_complete"] == false)
        let cursor = try #require(page.json["cursor"]?.stringValue)
        let rest = try await c.get("/admin/kv/SESSIONS/keys?prefix=s:&cursor=\(cursor)", headers: Self.auth)
        #expect(rest.json["keys"]?.arrayValue?.count == 2)
        #expect(rest.json["list_complete"] == true)
        #expect(rest.json["cursor"] == nil)
        let all = try await c.get("/admin/kv/SESSIONS/keys", headers: Self.auth)
        #expect(all.json["keys"]?.arrayValue?.first?["name"] == "other")
        #expect(all.json["keys"]?.arrayValue?.first?["expiration"]?.intValue != nil)
        try await s.stopAndClean()
    }

    @Test func errorsHaveTheContractStatuses() async throws {
        let s = try await Self.start()
        let c = s.client
        #expect(try await c.get("/admin/kv/KV/keys").status == 401)
        #expect(try await c.get("/admin/kv/KV/keys", headers: ["Authorization": "Bearer nope"]).status == 401)
        #expect(try await c.get("/admin/kv/NOPE/keys", headers: Self.auth).status == 404)
        #expect(try await c.get("/admin/kv/KV/keys?limit=1001", headers: Self.auth).status == 400)
        #expect(try await c.get("/admin/kv/KV/keys?limit=abc", headers: Self.auth).status == 400)
        let longKey = String(repeating: "k", count: 513)
        #expect(try await c.request("PUT", "/admin/kv/KV/values/\(longKey)", headers: Self.auth, body: Data("v".utf8)).status == 414)
        #expect(
            try await c.request("PUT", "/admin/kv/KV/values/\(String(repeating: "k", count: 512))", headers: Self.auth, body: Data("v".utf8)).status
                == 200
        )
        let bigMeta = "\"" + String(repeating: "m", count: 1100) + "\""
        #expect(
            try await c.request("PUT", "/admin/kv/KV/values/m", headers: Self.auth.merging(["X-Edge-Metadata": bigMeta]) { $1 }, body: Data()).status
                == 400
        )
        #expect(
            try await c.request("PUT", "/admin/kv/KV/values/m", headers: Self.auth.merging(["X-Edge-Metadata": "{bad"]) { $1 }, body: Data()).status
                == 400
        )
        #expect(try await c.request("PUT", "/admin/kv/KV/values/t?expiration_ttl=10", headers: Self.auth, body: Data()).status == 400)
        // Values up to 25 MiB are accepted; a declared 25 MiB + 1 is refused before it is sent.
        #expect(try await c.request("PUT", "/admin/kv/KV/values/big", headers: Self.auth, body: Data(count: 2 << 20)).status == 200)
        let raw = try await rawExchange(
            port: s.port,
            Array(
                "PUT /admin/kv/KV/values/huge HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(Self.token)\r\nContent-Length: \((25 << 20) + 1)\r\n\r\n"
                    .utf8
            )
        )
        #expect(raw.hasPrefix("HTTP/1.1 413"))
        try await s.stopAndClean()
    }

    /// Found by scripts/test-openapi (schemathesis): a method the route mounts but the endpoint
    /// does not serve (`PUT …/keys`) was 405 without the `Allow` header RFC 9110 requires.
    @Test func a405FromTheHandlerSaysWhichMethodsAreAllowed() async throws {
        let s = try await Self.start()
        let c = s.client
        for method in ["PUT", "DELETE"] {
            let wrong = try await c.request(method, "/admin/kv/KV/keys", headers: Self.auth, body: Data())
            #expect(wrong.status == 405)
            #expect(wrong.headers["Allow"] == "GET, HEAD", "\(method) …/keys")
            #expect(wrong.json["request_id"] != nil)
        }
        try await s.stopAndClean()
    }
}
