import EdgeCore
import EdgeRuntime
import EdgeTestSupport
import Foundation
import Functions
import Queues
import Testing

@Suite("stripe.webhook: signatures, tolerance, dedupe, durable enqueue")
struct StripeWebhookTests {
    @Test func fixturesAgreeWithStripesPublishedPrimitive() throws {
        let f = try StripeFixtures.load()
        #expect(f.published_primitive.hmac_sha256_hex == "bebb1a643997f419b315ddba19e6f5411e1ce7f810ba6d3617ce72823092f363")
        let ours = Hex.encode(Crypto.hmacSHA256(key: Array(f.published_primitive.key.utf8), data: Array(f.published_primitive.payload.utf8)))
        #expect(ours == f.published_primitive.hmac_sha256_hex)
    }

    @Test func aVerifiedEventIsEnqueuedAsIdTypeDataCreated() async throws {
        let f = try StripeFixtures.load()
        let s = try await RunningServer.start(
            manifest: StripeManifest.make(consumer: false),
            secrets: StripeManifest.secrets(f),
            clock: ManualClock(f.t0)
        )
        let d = try f.delivery("payment_intent.succeeded")
        let r = try await s.deliver(d)
        #expect(r.status == 200)
        #expect(r.json == ["received": true])
        // Durable before the 200: the message is already in the queue.
        let messages = try await s.messages("payments")
        #expect(messages.count == 1)
        let original = try JSONValue.parse(d.body)
        let body = try #require(messages.first?["body"])
        #expect(body == ["id": original["id"]!, "type": original["type"]!, "data": original["data"]!, "created": original["created"]!])
        #expect(try await s.kvJSON("stripe:event:evt_pi_succeeded_1")?["state"] == "enqueued")
        try await s.stopAndClean()
    }

    @Test func signatureCasesFromTheFixtures() async throws {
        let f = try StripeFixtures.load()
        let s = try await RunningServer.start(
            manifest: StripeManifest.make(consumer: false),
            secrets: StripeManifest.secrets(f),
            clock: ManualClock(f.t0)
        )
        for c in f.cases {
            let r = try await s.deliver(body: c.body, signature: c.stripe_signature)
            #expect(r.status == c.expect, "\(c.description)")
            if c.expect == 400 { #expect(r.json["error"]?.stringValue?.contains("Stripe-Signature") == true, "\(c.description): \(r.text)") }
        }
        let missing = try await s.deliver(body: f.deliveries[0].body, signature: nil)
        #expect(missing.status == 400)
        #expect(missing.json["error"] == "missing Stripe-Signature header")
        // Only the rotation case (the one 200) was enqueued.
        #expect(try await s.messages("payments").count == 1)
        try await s.stopAndClean()
    }

    @Test func toleranceBoundaries() async throws {
        let f = try StripeFixtures.load()
        let s = try await RunningServer.start(
            manifest: StripeManifest.make(consumer: false),
            secrets: StripeManifest.secrets(f),
            clock: ManualClock(f.t0)
        )
        for c in f.tolerance {
            let r = try await s.deliver(body: c.body, signature: c.stripe_signature)
            #expect(r.status == c.expect, "\(c.description)")
            if c.expect == 400 { #expect(r.json["error"] == "Stripe-Signature timestamp is outside the tolerance of 300 s") }
        }
        #expect(try await s.messages("payments").count == f.tolerance.filter { $0.expect == 200 }.count)
        try await s.stopAndClean()
    }

    @Test func toleranceSecondsIsConfigurableAndTheClockIsInjected() async throws {
        let f = try StripeFixtures.load()
        let clock = ManualClock(f.t0)
        let s = try await RunningServer.start(
            manifest: StripeManifest.make(consumer: false, toleranceSeconds: 60),
            secrets: StripeManifest.secrets(f),
            clock: clock
        )
        let d = try f.delivery("charge.refunded")
        clock.set(f.t0 + 60)
        #expect(try await s.deliver(d).status == 200)
        clock.set(f.t0 + 61)
        let stale = try await s.deliver(
            body: try f.delivery("checkout.session.completed").body,
            signature: try f.delivery("checkout.session.completed").stripe_signature
        )
        #expect(stale.status == 400)
        #expect(stale.json["error"] == "Stripe-Signature timestamp is outside the tolerance of 60 s")
        try await s.stopAndClean()
    }

    @Test func duplicatesAndReplaysAreAcknowledgedButEnqueuedOnce() async throws {
        let f = try StripeFixtures.load()
        let clock = ManualClock(f.t0)
        let s = try await RunningServer.start(manifest: StripeManifest.make(consumer: false), secrets: StripeManifest.secrets(f), clock: clock)
        let d = try f.delivery("invoice.payment_failed")
        for _ in 0..<3 {
            let r = try await s.deliver(d)
            #expect(r.status == 200)
            #expect(r.json == ["received": true])
        }
        // Stripe's re-send a minute later carries a fresh signature: still the same event.
        clock.advance(by: 60)
        let resent = StripeSignature.sign(payload: Array(d.body.utf8), secret: f.secret, timestamp: Int64(f.t0) + 60)
        #expect(try await s.deliver(body: d.body, signature: resent).status == 200)
        // Concurrent duplicates: one enqueues; the others wait for it and are acknowledged.
        let other = try f.delivery("checkout.session.completed")
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 { group.addTask { try await s.deliver(other).status } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses == Array(repeating: 200, count: 8))
        #expect(try await s.deliver(other).status == 200)
        let ids = try await s.messages("payments").compactMap { $0["body"]?["id"]?.stringValue }
        #expect(ids.sorted() == ["evt_cs_completed_1", "evt_inv_failed_1"])
        try await s.stopAndClean()
    }

    @Test func aClaimLeftByACrashedDeliveryIsTakenOverAfterTheLease() async throws {
        let f = try StripeFixtures.load()
        let s = try await RunningServer.start(
            manifest: StripeManifest.make(consumer: false),
            secrets: StripeManifest.secrets(f),
            clock: ManualClock(f.t0)
        )
        // A delivery claimed the id 30 s ago and has not enqueued yet: after waiting a second for it, 409.
        let d = try f.delivery("customer.subscription.created")
        try await s.kvPut("stripe:event:\(d.event_id)", #"{"at":\#(Int64(f.t0) - 30),"state":"pending"}"#)
        let busy = try await s.deliver(d)
        #expect(busy.status == 409)
        #expect(try await s.messages("payments").isEmpty)
        // Claimed 61 s ago and never enqueued: the process died in between; this delivery takes over.
        try await s.kvPut("stripe:event:\(d.event_id)", #"{"at":\#(Int64(f.t0) - 61),"state":"pending"}"#)
        #expect(try await s.deliver(d).status == 200)
        #expect(try await s.messages("payments").count == 1)
        #expect(try await s.kvJSON("stripe:event:\(d.event_id)")?["state"] == "enqueued")
        #expect(try await s.deliver(d).status == 200)
        #expect(try await s.messages("payments").count == 1)
        try await s.stopAndClean()
    }

    @Test func aVerifiedBodyThatIsNotAnEventIs400() async throws {
        let f = try StripeFixtures.load()
        let s = try await RunningServer.start(
            manifest: StripeManifest.make(consumer: false),
            secrets: StripeManifest.secrets(f),
            clock: ManualClock(f.t0)
        )
        for body in [#"{"type":"x"}"#, #"[1,2]"#, "not json", #"{"id":"evt_1"}"#] {
            let sig = StripeSignature.sign(payload: Array(body.utf8), secret: f.secret, timestamp: Int64(f.t0))
            #expect(try await s.deliver(body: body, signature: sig).status == 400, "\(body)")
        }
        #expect(try await s.messages("payments").isEmpty)
        try await s.stopAndClean()
    }

    @Test func aMissingSecretIsAManifestError() throws {
        var manifest = StripeManifest.make()
        manifest = .object(manifest.objectValue!.merging(["secrets": ["STRIPE_API_KEY", "ADMIN_TOKEN"]]) { $1 })
        do {
            _ = try ManifestLoader(registry: BuiltinFunctions.registry()).validate(
                manifest,
                file: "functions.json",
                baseDirectory: "/tmp",
                environment: [:],
                envFile: [:]
            )
            Issue.record("a manifest without STRIPE_WEBHOOK_SECRET was accepted")
        } catch {
            #expect("\(error)".contains("functions[0]") && "\(error)".contains("STRIPE_WEBHOOK_SECRET"), "\(error)")
        }
    }
}
