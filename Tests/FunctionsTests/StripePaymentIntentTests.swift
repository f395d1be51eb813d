import EdgeCore
import EdgeRuntime
import EdgeTestSupport
import Foundation
import Queues
import Synchronization
import Testing

@Suite("stripe.payment_intent against a fake Stripe")
struct StripePaymentIntentTests {
    static let intent: JSONValue = [
        "id": "pi_3Pfake", "object": "payment_intent", "amount": 2000, "currency": "usd", "customer": "cus_123",
        "client_secret": "pi_3Pfake_secret_abc", "status": "requires_payment_method", "metadata": ["order_id": "ord_42"],
    ]
    static let request: JSONValue = ["amount": 2000, "currency": "USD", "customer": "cus_123", "metadata": ["order_id": "ord_42"]]

    static func start(_ fake: FakeProvider, stripeBase: String? = nil) async throws -> RunningServer {
        let f = try StripeFixtures.load()
        return try await RunningServer.start(
            manifest: StripeManifest.make(consumer: false, stripeBase: stripeBase ?? fake.url()),
            secrets: StripeManifest.secrets(f),
            clock: ManualClock(f.t0)
        )
    }

    @Test func sendsTheExactFormBodyAndHeaders() async throws {
        let fake = try await FakeProvider.start { _ in .json(Self.intent) }
        let s = try await Self.start(fake)
        let r = try await s.client.request("POST", "/payments/intents", headers: ["Idempotency-Key": "order-42-attempt-1"], json: Self.request)
        #expect(r.status == 200)
        #expect(r.json["id"] == "pi_3Pfake" && r.json["client_secret"] == "pi_3Pfake_secret_abc" && r.json["status"] == "requires_payment_method")
        let call = try #require(fake.requests.first)
        #expect(fake.requests.count == 1)
        #expect(call.method == "POST")
        #expect(call.path == "/v1/payment_intents")
        #expect(call.text == "amount=2000&currency=usd&customer=cus_123&metadata[order_id]=ord_42")
        #expect(call.headers["authorization"] == "Bearer sk_test_fixture")
        #expect(call.headers["stripe-version"] == "2024-06-20")
        #expect(call.headers["idempotency-key"] == "order-42-attempt-1")
        #expect(call.headers["content-type"] == "application/x-www-form-urlencoded")
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func metadataValuesAreEncodedAndSorted() async throws {
        let fake = try await FakeProvider.start { _ in .json(Self.intent) }
        let s = try await Self.start(fake)
        let r = try await s.client.request(
            "POST",
            "/payments/intents",
            json: [
                "amount": 1, "currency": "eur", "metadata": ["z": "a b&c=d", "order_id": "o/1", "n": 7],
            ]
        )
        #expect(r.status == 200)
        #expect(fake.requests.first?.text == "amount=1&currency=eur&metadata[n]=7&metadata[order_id]=o%2F1&metadata[z]=a%20b%26c%3Dd")
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func repeatsAreAnsweredFromKVWithoutReachingStripe() async throws {
        let fake = try await FakeProvider.start { _ in .json(Self.intent) }
        let s = try await Self.start(fake)
        // With the client's key.
        let first = try await s.client.request("POST", "/payments/intents", headers: ["Idempotency-Key": "k-1"], json: Self.request)
        let second = try await s.client.request("POST", "/payments/intents", headers: ["Idempotency-Key": "k-1"], json: Self.request)
        #expect(first.status == 200 && second.status == 200)
        #expect(first.json == second.json)
        #expect(second.headers["X-Edge-Cache"] == "hit")
        #expect(fake.requests.count == 1)
        // Cached under the idempotency key for 3600 s.
        let cached = try await s.client.get("/kv/KV/values/stripe:pi:k-1", headers: StripeManifest.auth)
        #expect(cached.status == 200)
        #expect(cached.headers["X-Edge-Expiration"] == String(Int64(try StripeFixtures.load().t0) + 3600))
        // The same key with another request is refused, as Stripe does.
        var other = Self.request
        other = .object(other.objectValue!.merging(["amount": 999]) { $1 })
        let conflict = try await s.client.request("POST", "/payments/intents", headers: ["Idempotency-Key": "k-1"], json: other)
        #expect(conflict.status == 400)
        #expect(fake.requests.count == 1)

        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func badInputIs400WithoutCallingStripe() async throws {
        let fake = try await FakeProvider.start { _ in .json(Self.intent) }
        let s = try await Self.start(fake)
        let bad: [JSONValue] = [
            ["currency": "usd"], ["amount": 0, "currency": "usd"], ["amount": -5, "currency": "usd"], ["amount": 10.5, "currency": "usd"],
            ["amount": "100", "currency": "usd"], ["amount": 100], ["amount": 100, "currency": "us"], ["amount": 100, "currency": "usdd"],
            ["amount": 100, "currency": "u$d"], ["amount": 100, "currency": 840], ["amount": 100, "currency": "usd", "customer": 5],
            ["amount": 100, "currency": "usd", "metadata": ["a": ["nested": true]]], ["amount": 100, "currency": "usd", "metadata": "x"], [1, 2],
        ]
        for body in bad {
            let r = try await s.client.request("POST", "/payments/intents", json: body)
            #expect(r.status == 400, "\(body.serializedString)")
            #expect(r.json["error"]?.stringValue?.isEmpty == false)
        }
        let notJSON = try await s.client.request("POST", "/payments/intents", body: Data("amount=1".utf8))
        #expect(notJSON.status == 400)
        let badKey = try await s.client.request(
            "POST",
            "/payments/intents",
            headers: ["Idempotency-Key": String(repeating: "k", count: 256)],
            json: Self.request
        )
        #expect(badKey.status == 400)
        #expect(fake.requests.isEmpty)
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func stripeErrorsMapTo402_429_400WithStripesMessage() async throws {
        let reply = Mutex<FakeProvider.Reply>(.json([:]))
        let fake = try await FakeProvider.start { _ in reply.withLock { $0 } }
        let s = try await Self.start(fake)
        let cases: [(Int, JSONValue, Int)] = [
            (
                402,
                [
                    "error": [
                        "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
                        "message": "Your card has insufficient funds.",
                    ]
                ], 402
            ),
            (
                400,
                [
                    "error": [
                        "type": "invalid_request_error", "code": "parameter_invalid_integer", "message": "Invalid integer: abc", "param": "amount",
                    ]
                ], 400
            ),
            (429, ["error": ["type": "rate_limit_error", "message": "Too many requests hit the API too quickly."]], 429),
            // Our key refused: not the client's doing, and Stripe's message is not theirs to see.
            (401, ["error": ["type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****ture"]], 502),
        ]
        for (i, (status, body, expected)) in cases.enumerated() {
            reply.withLock { $0 = .json(body, status: status) }
            let before = fake.requests.count
            let r = try await s.client.request("POST", "/payments/intents", headers: ["Idempotency-Key": "err-\(i)"], json: Self.request)
            #expect(r.status == expected, "\(body.serializedString)")
            #expect(r.json["error"] == (expected == 502 ? "payment provider failed" : body["error"]?["message"]))
            #expect(r.json["request_id"]?.stringValue?.isEmpty == false)
            // Not cached: a repeat reaches Stripe again.
            _ = try await s.client.request("POST", "/payments/intents", headers: ["Idempotency-Key": "err-\(i)"], json: Self.request)
            #expect(fake.requests.count > before + 1)
        }
        reply.withLock { $0 = .json(cases[0].1, status: 402) }
        let card = try await s.client.request("POST", "/payments/intents", headers: ["Idempotency-Key": "err-card-2"], json: Self.request)
        #expect(card.json["code"] == "card_declined" && card.json["decline_code"] == "insufficient_funds")
        // Stripe's own failure is ours to report as a provider failure.
        reply.withLock { $0 = .json(["error": ["type": "api_error", "message": "internal"]], status: 500) }
        let failed = try await s.client.request("POST", "/payments/intents", headers: ["Idempotency-Key": "err-500"], json: Self.request)
        #expect(failed.status == 502)
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func aProvider500IsRetriedWithTheSameKeyThenSucceeds() async throws {
        let failures = Mutex(1)
        let fake = try await FakeProvider.start { _ in
            failures.withLock { n in
                if n > 0 {
                    n -= 1
                    return .json(["error": ["type": "api_error", "message": "try again"]], status: 500)
                }
                return .json(Self.intent)
            }
        }
        let s = try await Self.start(fake)
        let r = try await s.client.request("POST", "/payments/intents", headers: ["Idempotency-Key": "retry-me"], json: Self.request)
        #expect(r.status == 200)
        #expect(r.json["id"] == "pi_3Pfake")
        #expect(fake.requests.count == 2)
        #expect(fake.requests.allSatisfy { $0.headers["idempotency-key"] == "retry-me" && $0.text == fake.requests[0].text })
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func anUnreachableStripeIs502() async throws {
        let fake = try await FakeProvider.start { _ in .json(Self.intent) }
        try await fake.stop()
        let refusing = try RefusingPort()
        let s = try await Self.start(fake, stripeBase: refusing.url())
        let r = try await s.client.request("POST", "/payments/intents", json: Self.request)
        #expect(r.status == 502)
        #expect(r.json["error"] == "upstream provider failed")
        try await s.stopAndClean()
        withExtendedLifetime(refusing) {}
    }
}
