import EdgeRuntime
import Foundation
import KVStore
import Logging
import Queues

/// `stripe.events`: the consumer of the queue `stripe.webhook` fills.
///
/// - `payment_intent.succeeded` → `orders:<metadata.order_id>` marked paid, and a fulfillment
///   message `{order_id, customer, payment_intent_id}` on `fulfillment_queue`;
/// - `customer.subscription.created` / `.updated` → upsert `subscriptions:<id>`;
///   `.deleted` → the record `canceled`;
/// - `invoice.payment_failed` → `invoices:<id>` recorded, and an email message in
///   `resend.send`'s shape on `email_queue`;
/// - `checkout.session.completed` → `checkout_sessions:<id>` recorded;
/// - anything else is acknowledged and logged.
///
/// Effects are idempotent per event (a redelivered event finds its record applied and sends
/// nothing again; an older subscription event never overwrites a newer one). A failing message
/// asks for a retry after `2^attempts × 60` s; the queue's `max_retries` decides when it goes to
/// the dead-letter queue. A message that is not a Stripe event is dead-lettered at once.
public struct StripeEventsFunction: EdgeFunction {
    public static var kinds: FunctionKinds { .queue }

    let kvBinding: String
    let fulfillmentQueue: String?
    let emailQueue: String?

    public init(config: FunctionConfig) throws {
        kvBinding = try config.kvBinding()
        fulfillmentQueue = try config.queue("fulfillment_queue", required: false)
        emailQueue = try config.queue("email_queue", required: false)
    }

    /// The retry delay `stripe.events` asks for after its `attempts`-th delivery failed.
    public static func retryDelay(afterAttempt attempts: Int) -> Int {
        (1 << min(max(attempts, 0), 16)) * 60
    }

    public func queue(_ batch: MessageBatch, env: Env) async throws {
        let kv = try env.kv(kvBinding)
        await withTaskGroup(of: Void.self) { group in
            for message in batch.messages {
                group.addTask { await handle(message, kv: kv, env: env) }
            }
        }
    }

    private func handle(_ message: Message, kv: any KVStore, env: Env) async {
        guard let event = StripeEvent(message.body.data) else {
            env.logger.error("stripe.events: not a Stripe event, dead-lettered", metadata: ["message": "\(message.id)"])
            message.deadLetter(reason: "not a Stripe event: needs id, type and data.object")
            return
        }
        do {
            let applier = StripeEventApplier(event: event, kv: kv, env: env, fulfillmentQueue: fulfillmentQueue, emailQueue: emailQueue)
            try await applier.apply()
            message.ack()
        } catch {
            let delay = Self.retryDelay(afterAttempt: message.attempts)
            env.logger.warning(
                "stripe.events: event failed, retrying",
                metadata: [
                    "event": "\(event.id)", "type": "\(event.type)", "attempts": "\(message.attempts)",
                    "retry_in_seconds": "\(delay)", "error": "\(error)",
                ]
            )
            message.retry(delaySeconds: delay)
        }
    }
}

/// A queued Stripe event: `{id, type, data: {object}, created}`.
struct StripeEvent: Sendable {
    var id: String
    var type: String
    var object: [String: JSONValue]
    /// Unix seconds; `nil` when the event carried none.
    var created: Int64?

    init?(_ data: Data) {
        guard let json = try? JSONValue.parse(data), let id = json["id"]?.stringValue, let type = json["type"]?.stringValue,
            let object = json["data"]?["object"]?.objectValue
        else { return nil }
        self.id = id
        self.type = type
        self.object = object
        self.created = json["created"]?.intValue
    }
}
