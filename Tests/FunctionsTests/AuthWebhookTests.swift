import EdgeCore
import EdgeRuntime
import EdgeTestSupport
import Foundation
import KVStore
import Queues
import Testing

/// `clerk.webhook`, `supabase.webhook` and `auth.events`, with deliveries signed by
/// `Fixtures/make_auth_webhook_fixtures.py` (Python's hmac/hashlib/base64).
@Suite("Signed auth webhooks and auth.events")
struct AuthWebhookTests {
    struct Delivery: Decodable {
        let id: String
        let timestamp: Int64
        let body: String
        let signature: String
        let signature_list: String?
    }
    struct Fixtures: Decodable {
        let secret: String
        let now: Double
        let deliveries: [String: Delivery]
    }

    static let fixtures: Fixtures = {
        let url = Bundle.module.url(forResource: "auth-webhooks", withExtension: "json", subdirectory: "Fixtures")!
        return try! JSONDecoder().decode(Fixtures.self, from: Data(contentsOf: url))
    }()

    static let manifest: JSONValue = [
        "secrets": ["CLERK_WEBHOOK_SECRET", "SUPABASE_WEBHOOK_SECRET", "ADMIN_TOKEN"],
        "kv_namespaces": [["binding": "KV"]],
        "queues": [["name": "auth", "consumer": ["function": "auth-events", "max_batch_timeout": 0]], ["name": "supa"]],
        "functions": [
            ["name": "clerk", "handler": "clerk.webhook", "routes": ["POST /webhooks/clerk"], "config": ["queue": "auth"]],
            ["name": "supabase", "handler": "supabase.webhook", "routes": ["POST /webhooks/supabase"], "config": ["queue": "supa"]],
            ["name": "auth-events", "handler": "auth.events", "config": ["kv": "KV"]],
            ["name": "q", "handler": "queues.api", "routes": ["GET /q/*"], "config": ["token_secret": "ADMIN_TOKEN"]],
            ["name": "kv", "handler": "kv.api", "routes": ["GET /kv/*"], "config": ["token_secret": "ADMIN_TOKEN"]],
        ],
    ]

    static func start(now: Double = fixtures.now) async throws -> (RunningServer, ManualClock) {
        let clock = ManualClock(now)
        let s = try await RunningServer.start(
            manifest: manifest,
            secrets: ["CLERK_WEBHOOK_SECRET": fixtures.secret, "SUPABASE_WEBHOOK_SECRET": fixtures.secret, "ADMIN_TOKEN": "t"],
            clock: clock
        )
        return (s, clock)
    }

    static func post(
        _ s: RunningServer,
        _ name: String,
        path: String = "/webhooks/clerk",
        prefix: String = "svix-",
        signature: String? = nil,
        body: String? = nil
    ) async throws -> FetchResponse {
        let d = fixtures.deliveries[name]!
        return try await s.client.request(
            "POST",
            path,
            headers: [
                "\(prefix)id": d.id, "\(prefix)timestamp": String(d.timestamp), "\(prefix)signature": signature ?? d.signature,
                "Content-Type": "application/json",
            ],
            body: Data((body ?? d.body).utf8)
        )
    }

    static func user(_ s: RunningServer) async throws -> JSONValue? {
        let r = try await s.client.get("/kv/KV/values/users:user_2abc", headers: ["Authorization": "Bearer t"])
        // `Optional.none`, not a bare `nil`: JSONValue is ExpressibleByNilLiteral, and a bare nil
        // here would be `.null`, which made every "until the user exists" wait pass at once.
        return r.status == 200 ? r.json : Optional<JSONValue>.none
    }

    @Test func userLifecycleReachesKVThroughTheQueue() async throws {
        let (s, clock) = try await Self.start()
        let created = try await Self.post(s, "created")
        #expect(created.status == 200)
        #expect(created.json == ["received": true])
        #expect(await eventually { (try? await Self.user(s)) != nil })
        let user = try #require(try await Self.user(s))
        #expect(user["email"] == "ada@example.com")
        #expect(user["first_name"] == "Ada")
        #expect(user["last_name"] == "Lovelace")
        #expect(user["created_at"] == "2026-11-23T18:01:40.123Z")
        #expect(user["deleted_at"] == .null)

        clock.advance(by: 20)
        #expect(try await Self.post(s, "updated").status == 200)
        #expect(await eventually { (try? await Self.user(s))?["last_name"] == "King" })
        #expect(try await Self.post(s, "deleted").status == 200)
        #expect(await eventually { (try? await Self.user(s))?["deleted_at"] == "2026-11-23T18:03:20.000Z" })
        // Soft delete keeps the record.
        #expect(try await Self.user(s)?["email"] == "ada@example.com")
        try await s.stopAndClean()
    }

    @Test func badStaleAndMissingSignaturesAre400() async throws {
        let (s, clock) = try await Self.start()
        #expect(try await Self.post(s, "created", body: #"{"type":"user.created","data":{"id":"evil"}}"#).status == 400)
        #expect(try await Self.post(s, "created", signature: "v1,AAAA").status == 400)
        let missing = try await s.client.request("POST", "/webhooks/clerk", body: Data(Self.fixtures.deliveries["created"]!.body.utf8))
        #expect(missing.status == 400)
        #expect(missing.json["error"] != nil)
        // Another version and a wrong v1 before the right one still verify.
        let list = Self.fixtures.deliveries["created"]!.signature_list!
        clock.advance(by: 300)
        #expect(try await Self.post(s, "created", signature: list).status == 200)
        clock.advance(by: 1)
        let fresh = try await Self.post(s, "updated")  // updated is signed 10 s later: 291 s old
        #expect(fresh.status == 200, "\(fresh.text)")
        #expect(try await Self.post(s, "updated").status == 200)  // a replay: still acknowledged
        clock.advance(by: 20)
        #expect(try await Self.post(s, "updated").status == 400)  // now 311 s old
        let stale = try await Self.post(s, "supabase", path: "/webhooks/supabase", prefix: "webhook-")
        #expect(stale.status == 400)
        try await s.stopAndClean()
    }

    @Test func aReplayedIdIsAcknowledgedButEnqueuedOnce() async throws {
        let (s, _) = try await Self.start()
        for _ in 0..<3 { #expect(try await Self.post(s, "supabase", path: "/webhooks/supabase", prefix: "webhook-").status == 200) }
        let messages = try await s.client.get("/q/supa/messages", headers: ["Authorization": "Bearer t"]).json["messages"]?.arrayValue ?? []
        #expect(messages.count == 1)
        #expect(messages.first?["body"]?["type"] == "INSERT")
        #expect(messages.first?["body"]?["data"]?["record"]?["id"] == "u-1")
        #expect(messages.first?["body"]?["timestamp"] == "2026-11-23T18:03:00.000Z")
        try await s.stopAndClean()
    }
}
