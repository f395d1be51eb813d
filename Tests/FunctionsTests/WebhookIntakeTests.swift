import EdgeCore
import EdgeRuntime
import EdgeTestSupport
import Foundation
import KVStore
import Queues
import Testing

@testable import Functions

/// The crash-safe claim shared by `clerk.webhook`, `supabase.webhook` and `stripe.webhook`:
/// pending with a lease → enqueued, one key for the claim and its release.
@Suite("Webhook intake: two-state claims for Clerk and Supabase")
struct WebhookIntakeTests {
    typealias Auth = AuthWebhookTests

    /// The private namespace (`__edge`) of a running server.
    static func markers(_ s: RunningServer) throws -> any KVStore { try #require(s.server.env.internalKV) }

    /// The queued messages of `queue` (peek).
    static func messages(_ s: RunningServer, _ queue: String) async throws -> [JSONValue] {
        try await s.client.get("/q/\(queue)/messages", headers: ["Authorization": "Bearer t"]).json["messages"]?.arrayValue ?? []
    }

    /// A Supabase delivery signed now with the fixtures' secret.
    static func postSupabase(_ s: RunningServer, id: String, body: String, timestamp: Int64) async throws -> FetchResponse {
        let signature = try StandardWebhookSignature.sign(payload: Array(body.utf8), id: id, timestamp: timestamp, secret: Auth.fixtures.secret)
        return try await s.client.request(
            "POST",
            "/webhooks/supabase",
            headers: [
                "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": signature, "Content-Type": "application/json",
            ],
            body: Data(body.utf8)
        )
    }

    @Test func aReSendAfterACrashBetweenClaimAndEnqueueIsEnqueuedNotDropped() async throws {
        let (s, _) = try await Auth.start()
        let now = Int64(Auth.fixtures.now)
        let id = Auth.fixtures.deliveries["supabase"]!.id
        // The process died after claiming the id and before enqueueing: its claim is still
        // pending, 61 s old (the lease is 60 s).
        try await Self.markers(s).put("replay:supabase:\(id)", value: Data(#"{"at":\#(now - 61),"state":"pending"}"#.utf8), options: KVPutOptions())
        let resent = try await Auth.post(s, "supabase", path: "/webhooks/supabase", prefix: "webhook-")
        #expect(resent.status == 200)
        #expect(try await Self.messages(s, "supa").count == 1)
        let marker = try await Self.markers(s).getJSON("replay:supabase:\(id)", as: JSONValue.self)
        #expect(marker?["state"] == "enqueued")
        // Now it is a replay: acknowledged, not enqueued again.
        #expect(try await Auth.post(s, "supabase", path: "/webhooks/supabase", prefix: "webhook-").status == 200)
        #expect(try await Self.messages(s, "supa").count == 1)
        try await s.stopAndClean()
    }

    @Test func aDuplicateOfAFreshPendingClaimWaitsThenIs409() async throws {
        let (s, _) = try await Auth.start()
        let now = Int64(Auth.fixtures.now)
        let id = Auth.fixtures.deliveries["supabase"]!.id
        try await Self.markers(s).put("replay:supabase:\(id)", value: Data(#"{"at":\#(now - 30),"state":"pending"}"#.utf8), options: KVPutOptions())
        let busy = try await Auth.post(s, "supabase", path: "/webhooks/supabase", prefix: "webhook-")
        #expect(busy.status == 409)
        #expect(try await Self.messages(s, "supa").isEmpty)
        try await s.stopAndClean()
    }

    @Test func aClerkReSendAfterACrashReachesTheConsumer() async throws {
        let (s, _) = try await Auth.start()
        let now = Int64(Auth.fixtures.now)
        let id = Auth.fixtures.deliveries["created"]!.id
        try await Self.markers(s).put("replay:clerk:\(id)", value: Data(#"{"at":\#(now - 600),"state":"pending"}"#.utf8), options: KVPutOptions())
        #expect(try await Auth.post(s, "created").status == 200)
        #expect(await eventually { (try? await Auth.user(s))?["email"] == "ada@example.com" })
        try await s.stopAndClean()
    }

    @Test func aFailedEnqueueOfALongIdReleasesTheClaimItMade() async throws {
        let (s, _) = try await Auth.start()
        let now = Int64(Auth.fixtures.now)
        let id = "msg_" + String(repeating: "x", count: 600)  // "replay:supabase:<id>" is over KV's 512 bytes
        // The first delivery's body is too large for a queue message (128 KB): the enqueue fails.
        let huge = #"{"type":"INSERT","record":{"blob":""# + String(repeating: "a", count: 200_000) + #""}}"#
        let failed = try await Self.postSupabase(s, id: id, body: huge, timestamp: now)
        #expect(failed.status >= 400)
        #expect(try await Self.messages(s, "supa").isEmpty)
        // The claim was released, so the provider's next delivery of that id is enqueued.
        let retried = try await Self.postSupabase(s, id: id, body: #"{"type":"INSERT","record":{"id":"u-9"}}"#, timestamp: now)
        #expect(retried.status == 200)
        let messages = try await Self.messages(s, "supa")
        #expect(messages.count == 1)
        #expect(messages.first?["body"]?["data"]?["record"]?["id"] == "u-9")
        try await s.stopAndClean()
    }

    @Test func aStripeMarkerWithAnExtremeTimeIsTakenOverWithoutTrapping() async throws {
        let f = try StripeFixtures.load()
        let s = try await RunningServer.start(
            manifest: StripeManifest.make(consumer: false),
            secrets: StripeManifest.secrets(f),
            clock: ManualClock(f.t0)
        )
        let d = try f.delivery("customer.subscription.created")
        // `now - at` overflows: the lease arithmetic must not trap (it would kill every request).
        try await s.kvPut("stripe:event:\(d.event_id)", #"{"at":-9223372036854775808,"state":"pending"}"#)
        #expect(try await s.deliver(d).status == 200)
        #expect(try await s.messages("payments").count == 1)
        try await s.stopAndClean()
    }

    @Test func markerKeysStayWithinKVsLimitAndLeasesNeverTrap() {
        #expect(WebhookIntake.markerKey(prefix: "replay:f:", id: "msg_1") == "replay:f:msg_1")
        let long = WebhookIntake.markerKey(prefix: "replay:f:", id: String(repeating: "x", count: 600))
        #expect(long.hasPrefix("replay:f:sha256:") && long.utf8.count <= 512)
        #expect(long == WebhookIntake.markerKey(prefix: "replay:f:", id: String(repeating: "x", count: 600)))
        #expect(WebhookIntake.leaseExpired(claimedAt: 100, now: 160, lease: 60))
        #expect(!WebhookIntake.leaseExpired(claimedAt: 100, now: 159, lease: 60))
        #expect(WebhookIntake.leaseExpired(claimedAt: .min, now: 1_800_000_000, lease: 60))
        #expect(!WebhookIntake.leaseExpired(claimedAt: .max, now: -5, lease: 60))
    }
}
