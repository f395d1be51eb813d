import EdgeRuntime
import EdgeTestSupport
import Foundation
import Testing

/// The issue's overflow requests: each is answered 400 naming the field (or clamped), the CLI
/// exits 1 with one line, and the server keeps serving afterwards (a trap would have killed it).
@Suite("numbers from outside")
struct NumbersFromOutsideTests {
    static let auth = ["Authorization": "Bearer t"]
    static let manifest: JSONValue = [
        "secrets": ["ADMIN_TOKEN"],
        "kv_namespaces": [["binding": "KV"]],
        "queues": [["name": "jobs"]],
        "functions": [
            ["name": "kv-admin", "handler": "kv.api", "routes": ["GET /admin/kv/*", "PUT /admin/kv/*"], "config": ["token_secret": "ADMIN_TOKEN"]],
            [
                "name": "q-admin", "handler": "queues.api", "routes": ["GET /admin/queues/*", "POST /admin/queues/*"],
                "config": ["token_secret": "ADMIN_TOKEN"],
            ],
        ],
    ]

    static func expect400(_ response: FetchResponse, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == 400, sourceLocation: sourceLocation)
        #expect(response.json["error"]?.stringValue == message, sourceLocation: sourceLocation)
    }

    @Test func kvOverflowingQueryNumbersAre400NamingTheField() async throws {
        let s = try await RunningServer.start(manifest: Self.manifest, secrets: ["ADMIN_TOKEN": "t"])
        let c = s.client
        let ttlError = "expiration_ttl must be an integer between 60 and 3153600000"
        for ttl in ["9223372036854775807", "-9223372036854775808", "99999999999999999999", "3153600001", "59"] {
            Self.expect400(
                try await c.request("PUT", "/admin/kv/KV/values/k?expiration_ttl=\(ttl)", headers: Self.auth, body: Data("v".utf8)),
                ttlError
            )
        }
        for at in ["-9223372036854775808", "9223372036854775807", "99999999999999999999"] {
            let put = try await c.request("PUT", "/admin/kv/KV/values/k?expiration=\(at)", headers: Self.auth, body: Data("v".utf8))
            #expect(put.status == 400)
            #expect(put.json["error"]?.stringValue?.hasPrefix("expiration must be an integer between ") == true)
        }
        Self.expect400(
            try await c.request("PUT", "/admin/kv/KV/values/k?expiration_ttl=1e3", headers: Self.auth, body: Data()),
            "expiration_ttl must be an integer"
        )
        for limit in ["99999999999999999999", "-9223372036854775808", "0", "1001", "1.5"] {
            Self.expect400(try await c.get("/admin/kv/KV/keys?limit=\(limit)", headers: Self.auth), "limit must be an integer between 1 and 1000")
        }
        // Still serving; the largest TTL is accepted.
        #expect(try await c.get("/_edge/health").status == 200)
        #expect(try await c.request("PUT", "/admin/kv/KV/values/k?expiration_ttl=3153600000", headers: Self.auth, body: Data("v".utf8)).status == 200)
        let got = try await c.get("/admin/kv/KV/values/k", headers: Self.auth)
        #expect(got.text == "v")
        #expect(got.headers["X-Edge-Expiration"].flatMap { Int64($0) }.map { $0 - Int64(Date().timeIntervalSince1970) } ?? 0 > 3_153_599_000)
        #expect(try await c.get("/admin/kv/KV/keys?limit=1000", headers: Self.auth).json["keys"]?.arrayValue?.count == 1)
        try await s.stopAndClean()
    }

    @Test func queueDelaysAndPeekLimitsAre400NamingTheField() async throws {
        let s = try await RunningServer.start(manifest: Self.manifest, secrets: ["ADMIN_TOKEN": "t"])
        let c = s.client
        let json = Self.auth.merging(["Content-Type": "application/json"]) { $1 }
        for delay in ["99999999999999999999", "9223372036854775807", "-9223372036854775808", "1e300", "86401", "-1", "0.5", "\"5\""] {
            let sent = try await c.request(
                "POST",
                "/admin/queues/jobs/messages",
                headers: json,
                body: Data(#"{"body": 1, "delay_seconds": \#(delay)}"#.utf8)
            )
            Self.expect400(sent, "delay_seconds must be an integer between 0 and 86400")
        }
        let batch = try await c.request(
            "POST",
            "/admin/queues/jobs/messages/batch",
            headers: Self.auth,
            json: ["messages": [["body": 1], ["body": 2, "delay_seconds": .integer(.max)]]]
        )
        Self.expect400(batch, "messages[1].delay_seconds must be an integer between 0 and 86400")
        for limit in ["99999999999999999999", "0", "1001", "x"] {
            Self.expect400(
                try await c.get("/admin/queues/jobs/messages?limit=\(limit)", headers: Self.auth),
                "limit must be an integer between 1 and 1000"
            )
        }
        // The server still works; the edges of the ranges are accepted.
        #expect(
            try await c.request("POST", "/admin/queues/jobs/messages", headers: Self.auth, json: ["body": 1, "delay_seconds": 86_400]).status == 202
        )
        #expect(try await c.get("/admin/queues/jobs/messages?limit=1000", headers: Self.auth).status == 200)
        try await s.stopAndClean()
    }

    /// `UInt64(retryAfter) * 1_000_000_000` trapped for `Retry-After: 18446744074`.
    @Test func anAnalyticsRetryAfterPastUInt64IsClampedNotATrap() async throws {
        let fake = try await FakeProvider.start { _ in .init(status: 429, headers: ["Retry-After": "18446744074"]) }
        let s = try await RunningServer.start(
            manifest: AnalyticsTests.manifest(base: fake.url(), flushAt: 2, retryConsumer: false),
            secrets: AnalyticsTests.secrets
        )
        @Sendable func pending() async -> JSONValue? {
            try? await s.client.get("/q", headers: AnalyticsTests.auth).json.arrayValue?.first { $0["name"] == "analytics" }?["pending"]
        }
        #expect(try await s.client.request("POST", "/track", json: [["event": "a"], ["event": "b"]]).status == 202)
        #expect(await eventually { await pending() == 1 })
        // Paused (for the clamped day): the next batch is spilled without calling the provider.
        #expect(try await s.client.request("POST", "/track", json: [["event": "c"], ["event": "d"]]).status == 202)
        #expect(await eventually { await pending() == 2 })
        #expect(fake.requests.count == 1)
        #expect(try await s.client.get("/_edge/health").status == 200)
        try await s.stopAndClean()
        try await fake.stop()
    }

    /// `expires_in - 300` trapped for an Auth0 answer of `expires_in: -9223372036854775808`.
    @Test func anAuth0ExpiresInAtInt64MinIsClamped() async throws {
        let auth0 = try await FakeProvider.start { r in
            switch r.path {
            case "/oauth/token": return .json(["access_token": "mgmt-token", "expires_in": .integer(.min)])
            case "/api/v2/users/user_1": return .json(["user_id": "user_1"])
            default: return .init(status: 404)
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
        for _ in 0..<2 {
            let me = try await s.client.get("/me", headers: ["Authorization": "Bearer token-of-user_1"])
            #expect(me.status == 200)
        }
        try await s.stopAndClean()
        try await auth0.stop()
    }

    @Test func aPaymentAmountOutOfRangeIs400WithoutCallingStripe() async throws {
        let fake = try await FakeProvider.start { _ in .json(StripePaymentIntentTests.intent) }
        let s = try await StripePaymentIntentTests.start(fake)
        for amount in ["99999999999999999999", "9223372036854775807", "100000000", "1e300", "0", "-9223372036854775808"] {
            let r = try await s.client.request(
                "POST",
                "/payments/intents",
                headers: ["Content-Type": "application/json"],
                body: Data(#"{"amount": \#(amount), "currency": "usd"}"#.utf8)
            )
            Self.expect400(r, "amount must be an integer between 1 and 99999999")
        }
        #expect(fake.requests.isEmpty)
        let ok = try await s.client.request("POST", "/payments/intents", json: ["amount": 99_999_999, "currency": "usd"])
        #expect(ok.status == 200)
        #expect(fake.requests.first?.text == "amount=99999999&currency=usd")
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func cliNumberFlagsExitOneWithAMessage() throws {
        let data = TemporaryFolder("cli-numbers")
        defer { data.cleanup() }
        let kv = ["kv", "put", "--binding", "KV", "--data", data.path, "k", "v"]
        let cases: [([String], String)] = [
            (kv + ["--ttl", "99999999999999999999"], "--ttl must be an integer between 60 and 3153600000"),
            (kv + ["--ttl", "9223372036854775807"], "--ttl must be an integer between 60 and 3153600000"),
            (kv + ["--expiration=-9223372036854775808"], "--expiration must be an integer between "),
            (kv + ["--min-ttl", "0"], "--min-ttl must be an integer between 1 and 31536000"),
            (
                ["kv", "list", "--binding", "KV", "--data", data.path, "--limit", "99999999999999999999"],
                "--limit must be an integer between 1 and 1000"
            ),
            (["queues", "peek", "jobs", "--data", data.path, "--limit", "0"], "--limit must be an integer between 1 and 1000"),
            (["queues", "send", "jobs", "{}", "--data", data.path, "--delay", "86401"], "--delay must be an integer between 0 and 86400"),
            (["serve", "--port", "99999", "--data", data.path], "--port must be an integer between 0 and 65535"),
            (["serve", "--port=-1", "--data", data.path], "--port must be an integer between 0 and 65535"),
        ]
        for (arguments, message) in cases {
            let result = try runEdgeRun(arguments)
            #expect(result.status == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("Fatal error"), "\(arguments): \(result.stderr)")
        }
        let ok = try runEdgeRun(kv + ["--ttl", "3153600000"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let got = try runEdgeRun(["kv", "get", "--binding", "KV", "--data", data.path, "k", "--metadata"])
        #expect(String(decoding: got.stdout, as: UTF8.self).contains("\"expiration\""))
    }
}
