import EdgeRuntime
import EdgeTestSupport
import Foundation
import Testing

/// `Fixtures/stripe-webhooks.json` (made by `make_stripe_fixtures.py`, see the README there).
struct StripeFixtures: Decodable {
    struct Delivery: Decodable {
        let description: String
        let event_type: String
        let event_id: String
        let body: String
        let stripe_signature: String
    }
    struct Case: Decodable {
        let description: String
        let expect: Int
        let body: String
        let stripe_signature: String
    }
    struct Tolerance: Decodable {
        let description: String
        let age: Int
        let expect: Int
        let body: String
        let stripe_signature: String
    }
    struct Primitive: Decodable {
        let key: String
        let payload: String
        let hmac_sha256_hex: String
    }

    let secret: String
    let t0: Double
    let published_primitive: Primitive
    let deliveries: [Delivery]
    let cases: [Case]
    let tolerance: [Tolerance]

    static func load() throws -> StripeFixtures {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/stripe-webhooks", withExtension: "json"))
        return try JSONDecoder().decode(StripeFixtures.self, from: Data(contentsOf: url))
    }

    func delivery(_ type: String) throws -> Delivery { try #require(deliveries.first { $0.event_type == type }) }
}

/// A Stripe shop manifest: webhook → `payments` (consumed by `stripe.events` unless
/// `consumer` is false) → KV, fulfillment and email queues; payment intents; admin APIs.
enum StripeManifest {
    static let auth = ["Authorization": "Bearer t"]

    static func make(consumer: Bool = true, maxRetries: Int = 2, stripeBase: String = "http://127.0.0.1:9", toleranceSeconds: Int? = nil) -> JSONValue
    {
        var payments: [String: JSONValue] = ["name": "payments"]
        if consumer {
            payments["consumer"] = [
                "function": "stripe-events", "max_batch_size": 10, "max_batch_timeout": 0,
                "max_retries": .integer(Int64(maxRetries)), "dead_letter_queue": "payments-dlq",
            ]
        }
        var webhookConfig: [String: JSONValue] = ["queue": "payments"]
        if let toleranceSeconds { webhookConfig["tolerance_seconds"] = .integer(Int64(toleranceSeconds)) }
        return [
            "vars": ["STRIPE_API_BASE": .string(stripeBase)],
            "secrets": ["STRIPE_WEBHOOK_SECRET", "STRIPE_API_KEY", "ADMIN_TOKEN"],
            "kv_namespaces": [["binding": "KV"]],
            "queues": [.object(payments), ["name": "payments-dlq"], ["name": "fulfillment"], ["name": "emails"]],
            "functions": [
                ["name": "stripe-webhook", "handler": "stripe.webhook", "routes": ["POST /webhooks/stripe"], "config": .object(webhookConfig)],
                [
                    "name": "stripe-events", "handler": "stripe.events",
                    "config": ["kv": "KV", "fulfillment_queue": "fulfillment", "email_queue": "emails"],
                ],
                ["name": "payment-intents", "handler": "stripe.payment_intent", "routes": ["POST /payments/intents"], "config": ["kv": "KV"]],
                ["name": "kv-admin", "handler": "kv.api", "routes": ["GET /kv/*", "PUT /kv/*"], "config": ["token_secret": "ADMIN_TOKEN"]],
                [
                    "name": "queues-admin", "handler": "queues.api", "routes": ["GET /q", "GET /q/*", "POST /q/*"],
                    "config": ["token_secret": "ADMIN_TOKEN"],
                ],
            ],
        ]
    }

    static func secrets(_ fixtures: StripeFixtures) -> [String: String] {
        ["STRIPE_WEBHOOK_SECRET": fixtures.secret, "STRIPE_API_KEY": "sk_test_fixture", "ADMIN_TOKEN": "t"]
    }
}

extension RunningServer {
    /// POSTs a webhook delivery.
    func deliver(body: String, signature: String?) async throws -> FetchResponse {
        var headers = ["Content-Type": "application/json"]
        if let signature { headers["Stripe-Signature"] = signature }
        return try await client.request("POST", "/webhooks/stripe", headers: headers, body: Data(body.utf8))
    }

    func deliver(_ d: StripeFixtures.Delivery) async throws -> FetchResponse {
        try await deliver(body: d.body, signature: d.stripe_signature)
    }

    /// The messages waiting in `queue` (peek, nothing consumed).
    func messages(_ queue: String) async throws -> [JSONValue] {
        try await client.get("/q/\(queue)/messages", headers: StripeManifest.auth).json["messages"]?.arrayValue ?? []
    }

    /// The counts of `queue`.
    func stats(_ queue: String) async throws -> JSONValue? {
        try await client.get("/q", headers: StripeManifest.auth).json.arrayValue?.first { $0["name"]?.stringValue == queue }
    }

    /// The JSON stored under `key` in KV, or nil.
    func kvJSON(_ key: String) async throws -> JSONValue? {
        let r = try await client.get("/kv/KV/values/\(key)", headers: StripeManifest.auth)
        return r.status == 200 ? r.json : nil
    }

    /// Whether `key` is in KV (`JSONValue` is `ExpressibleByNilLiteral`, so compare no optionals of it with `nil`).
    func kvHas(_ key: String) async throws -> Bool {
        try await client.get("/kv/KV/values/\(key)", headers: StripeManifest.auth).status == 200
    }

    func kvPut(_ key: String, _ value: String) async throws {
        let r = try await client.request("PUT", "/kv/KV/values/\(key)", headers: StripeManifest.auth, body: Data(value.utf8))
        #expect(r.status == 200)
    }
}

/// A Stripe event signed at `t` (for scenario tests; the scheme itself is checked against the
/// Python-made fixtures in `StripeWebhookTests`).
func signedEvent(id: String, type: String, object: JSONValue, created: Int64, secret: String, t: Int64) -> (body: String, signature: String) {
    let body: JSONValue = ["id": .string(id), "object": "event", "type": .string(type), "created": .integer(created), "data": ["object": object]]
    let text = body.serializedString
    return (text, StripeSignature.sign(payload: Array(text.utf8), secret: secret, timestamp: t))
}
