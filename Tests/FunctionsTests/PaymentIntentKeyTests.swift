import EdgeRuntime
import EdgeTestSupport
import Foundation
import Synchronization
import Testing

/// `stripe.payment_intent` without the client's `Idempotency-Key`: every request is its own
/// payment, with a fresh key that only `fetch`'s retries reuse, and nothing is cached.
@Suite("stripe.payment_intent idempotency keys")
struct PaymentIntentKeyTests {
    /// A fake Stripe that keeps Stripe's idempotency rule: one PaymentIntent per key.
    static func fakeStripe(failFirst: Int = 0) async throws -> FakeProvider {
        let state = Mutex((byKey: [String: String](), failuresLeft: failFirst))
        return try await FakeProvider.start { r in
            state.withLock { s in
                if s.failuresLeft > 0 {
                    s.failuresLeft -= 1
                    return .json(["error": ["type": "api_error", "message": "try again"]], status: 500)
                }
                let key = r.headers["idempotency-key"] ?? "none"
                let id = s.byKey[key] ?? "pi_fake_\(s.byKey.count + 1)"
                s.byKey[key] = id
                return .json([
                    "id": .string(id), "object": "payment_intent", "client_secret": .string(id + "_secret"),
                    "status": "requires_payment_method",
                ])
            }
        }
    }

    @Test func twoIdenticalRequestsWithoutAKeyAreTwoPayments() async throws {
        let fake = try await Self.fakeStripe()
        let s = try await StripePaymentIntentTests.start(fake)
        let a = try await s.client.request("POST", "/payments/intents", json: StripePaymentIntentTests.request)
        let b = try await s.client.request("POST", "/payments/intents", json: StripePaymentIntentTests.request)
        #expect(a.status == 200 && b.status == 200)
        #expect(fake.requests.count == 2)
        let keys = fake.requests.compactMap { $0.headers["idempotency-key"] }
        #expect(keys.count == 2 && keys[0] != keys[1])
        // pi_<customer>_<unix ms>_<random>, the ms from the injected clock.
        let millis = String(Int64(try StripeFixtures.load().t0 * 1000))
        for key in keys {
            let parts = key.split(separator: "_").map(String.init)
            #expect(parts.count == 5 && parts[0] == "pi" && parts[1] == "cus" && parts[2] == "123" && parts[3] == millis, "\(key)")
            #expect(parts.last?.count == 16 && parts.last?.allSatisfy(\.isHexDigit) == true, "\(key)")
        }
        #expect(a.headers["Idempotency-Key"] == keys[0] && b.headers["Idempotency-Key"] == keys[1])
        #expect(a.json["id"] != b.json["id"])
        // Not cached: nothing was written under stripe:pi:.
        let listed = try await s.client.get("/kv/KV/keys?prefix=stripe:pi:", headers: StripeManifest.auth)
        #expect(listed.json["keys"]?.arrayValue?.isEmpty == true, "\(listed.text)")
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func fetchsRetriesReuseTheFreshKey() async throws {
        let fake = try await Self.fakeStripe(failFirst: 1)
        let s = try await StripePaymentIntentTests.start(fake)
        let r = try await s.client.request("POST", "/payments/intents", json: ["amount": 500, "currency": "eur"])
        #expect(r.status == 200)
        #expect(fake.requests.count == 2)
        let keys = fake.requests.compactMap { $0.headers["idempotency-key"] }
        #expect(keys.count == 2 && keys[0] == keys[1])
        #expect(keys.first?.hasPrefix("pi_anonymous_") == true)
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func aCustomerIdThatIsNoHeaderValueDoesNotLeakIntoTheKey() async throws {
        let fake = try await Self.fakeStripe()
        let s = try await StripePaymentIntentTests.start(fake)
        let r = try await s.client.request("POST", "/payments/intents", json: ["amount": 500, "currency": "eur", "customer": "cus 1\r\nX-Evil: 1"])
        #expect(r.status == 200)
        let key = try #require(fake.requests.first?.headers["idempotency-key"])
        #expect(key.hasPrefix("pi_cus1X-Evil1_"))
        #expect(fake.requests.first?.headers["x-evil"] == nil)
        try await s.stopAndClean()
        try await fake.stop()
    }
}
