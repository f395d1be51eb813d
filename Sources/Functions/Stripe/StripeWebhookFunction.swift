import EdgeRuntime
import Foundation
import KVStore
import Queues

/// `stripe.webhook`: verifies `Stripe-Signature` over the raw body, dedupes by event id and
/// enqueues `{id, type, data, created}` durably before answering 200 `{"received":true}`.
///
/// Dedupe is a KV marker `stripe:event:<id>` in the function's KV binding, claimed in two
/// states (pending with a lease → enqueued) by the shared ``WebhookIntake``: a crash between the
/// claim and the enqueue never turns Stripe's re-send into a duplicate.
public struct StripeWebhookFunction: EdgeFunction {
    public static var kinds: FunctionKinds { .fetch }

    /// The secret holding the endpoint's signing secret (`whsec_…`).
    static let secretName = "STRIPE_WEBHOOK_SECRET"

    let queue: String
    let kvBinding: String
    let tolerance: Int64
    let intake: WebhookIntake

    public init(config: FunctionConfig) throws {
        queue = try config.queue("queue")!
        kvBinding = try config.kvBinding()
        tolerance = Int64(try config.int("tolerance_seconds", default: Int(StripeSignature.defaultTolerance), in: 0...31_536_000_000))
        // Stripe re-sends a failed delivery for up to 3 days; remember ids a little longer.
        intake = WebhookIntake(
            dedupeTTL: Int64(try config.int("dedupe_ttl_seconds", default: 4 * 86_400, in: 60...365 * 86_400)),
            pendingLease: Int64(try config.int("pending_lease_seconds", default: 60, in: 1...86_400))
        )
        try config.requireSecret(Self.secretName)
    }

    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        let secret = try env.requiredSecret(Self.secretName)
        do {
            _ = try StripeSignature.verify(
                payload: request.body,
                header: request.headers["Stripe-Signature"],
                secret: secret,
                tolerance: tolerance,
                now: env.clock.nowSeconds()
            )
        } catch {
            throw EdgeHTTPError(.badRequest, error.message)
        }
        let event = try Self.envelope(of: request.body)
        let kv = try env.kv(kvBinding)
        let queue = try env.queue(self.queue)
        _ = try await intake.receive(WebhookIntake.markerKey(prefix: "stripe:event:", id: event.id), kv: kv, clock: env.clock) {
            try await queue.send(body: event.messageBody, contentType: .json)
        }
        return .json(["received": true])
    }

    /// The parts of a Stripe event the queue message carries.
    struct Envelope {
        var id: String
        var messageBody: Data
    }

    /// Reads `{id, type, data, created}` from a verified body.
    /// - Throws: ``EdgeHTTPError`` 400 when the body is not a Stripe event.
    static func envelope(of body: Data) throws -> Envelope {
        guard let event = try? JSONValue.parse(body), event.objectValue != nil else {
            throw EdgeHTTPError(.badRequest, "body is not a Stripe event object")
        }
        guard let id = event["id"]?.stringValue, (1...255).contains(id.utf8.count) else {
            throw EdgeHTTPError(.badRequest, "event id is missing or longer than 255 bytes")
        }
        guard let type = event["type"]?.stringValue, !type.isEmpty else {
            throw EdgeHTTPError(.badRequest, "event type is missing")
        }
        let message: JSONValue = [
            "id": .string(id), "type": .string(type),
            "data": event["data"] ?? .null, "created": event["created"] ?? .null,
        ]
        return Envelope(id: id, messageBody: message.serialized())
    }
}

extension StripeWebhookFunction: OpenAPIDescribed {
    public static func openAPIOperations(_ mount: OpenAPIMount) -> [OpenAPIOperation] {
        let signature = OpenAPI.parameter("Stripe-Signature", in: "header", required: true, description: "t=<unix seconds>,v1=<hex HMAC-SHA256>")
        let event = OpenAPI.object(
            [
                "id": ["type": "string", "minLength": 1, "maxLength": 255], "type": ["type": "string", "minLength": 1],
                "data": OpenAPI.anyValue, "created": OpenAPI.integer,
            ],
            required: ["id", "type"]
        )
        return WebhookOpenAPI.intake(
            mount,
            summary: "Stripe webhook (signed, deduplicated by event id, enqueued)",
            headers: [signature],
            event: event
        )
    }
}
