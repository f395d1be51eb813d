import EdgeRuntime
import Foundation
import KVStore
import Logging
import Queues

/// Applies one Stripe event's effects to KV and the follow-on queues (see
/// ``StripeEventsFunction``). Every method is safe to run again for the same event.
struct StripeEventApplier {
    let event: StripeEvent
    let kv: any KVStore
    let env: Env
    let fulfillmentQueue: String?
    let emailQueue: String?

    /// The email template `invoice.payment_failed` asks `resend.batch` to render.
    static let paymentFailedTemplate = "payment_failed"

    /// - Throws: a storage or queue error, or ``StripeEventError`` for a record that cannot be
    ///   read; the consumer retries the message.
    func apply() async throws {
        switch event.type {
        case "payment_intent.succeeded": try await paymentSucceeded()
        case "customer.subscription.created", "customer.subscription.updated": try await upsertSubscription(deleted: false)
        case "customer.subscription.deleted": try await upsertSubscription(deleted: true)
        case "invoice.payment_failed": try await invoicePaymentFailed()
        case "checkout.session.completed": try await checkoutCompleted()
        default:
            env.logger.info("stripe.events: event type not handled, acknowledged", metadata: ["event": "\(event.id)", "type": "\(event.type)"])
        }
    }

    // MARK: Effects

    private func paymentSucceeded() async throws {
        let pi = event.object
        let piID = pi["id"]?.stringValue ?? ""
        guard let orderID = pi["metadata"]?["order_id"]?.stringValue, !orderID.isEmpty else {
            env.logger.warning(
                "stripe.events: payment_intent.succeeded without metadata.order_id",
                metadata: ["event": "\(event.id)", "payment_intent": "\(piID)"]
            )
            return
        }
        let key = "orders:\(orderID)"
        var order = try await record(key)
        if order["status"] == "paid", order["payment_intent_id"]?.stringValue == piID {
            return  // applied by an earlier delivery of this event
        }
        let customer = pi["customer"] ?? .null
        if let fulfillmentQueue {
            let message: JSONValue = ["order_id": .string(orderID), "customer": customer, "payment_intent_id": .string(piID)]
            let id = try await env.queue(fulfillmentQueue).send(body: message.serialized(), contentType: .json)
            order["fulfillment_message_id"] = .string(id)
        }
        order["order_id"] = .string(orderID)
        order["status"] = "paid"
        order["paid_at"] = .string(eventTime)
        order["payment_intent_id"] = .string(piID)
        order["customer"] = customer
        order["amount"] = pi["amount_received"] ?? pi["amount"] ?? .null
        order["currency"] = pi["currency"] ?? .null
        order["event_id"] = .string(event.id)
        try await kv.put(key, value: JSONValue.object(order).serialized())
    }

    private func upsertSubscription(deleted: Bool) async throws {
        let sub = event.object
        guard let id = sub["id"]?.stringValue, !id.isEmpty else { throw StripeEventError("subscription has no id") }
        let key = "subscriptions:\(id)"
        var record = try await record(key)
        if let stored = record["event_created"]?.intValue, let created = event.created, stored > created {
            env.logger.info("stripe.events: older subscription event skipped", metadata: ["event": "\(event.id)", "subscription": "\(id)"])
            return
        }
        if !deleted, record["status"] == "canceled", record["event_created"]?.intValue == event.created {
            return  // a cancellation of the same instant stands
        }
        let firstItem = sub["items"]?["data"]?.arrayValue?.first
        // API versions from 2025-03 carry the period on the items instead of the subscription.
        let periodEnd = sub["current_period_end"]?.intValue ?? firstItem?["current_period_end"]?.intValue
        record["id"] = .string(id)
        record["customer"] = sub["customer"] ?? .null
        record["status"] = deleted ? "canceled" : (sub["status"] ?? .null)
        record["current_period_end"] = periodEnd.map { .string(Self.iso($0)) } ?? .null
        record["price_id"] = firstItem?["price"]?["id"] ?? sub["plan"]?["id"] ?? .null
        record["cancel_at_period_end"] = sub["cancel_at_period_end"] ?? .null
        if deleted { record["canceled_at"] = .string(sub["canceled_at"]?.intValue.map(Self.iso) ?? eventTime) }
        record["updated_at"] = .string(eventTime)
        record["event_created"] = event.created.map { .integer($0) } ?? .null
        record["event_id"] = .string(event.id)
        try await kv.put(key, value: JSONValue.object(record).serialized())
    }

    private func invoicePaymentFailed() async throws {
        let invoice = event.object
        guard let id = invoice["id"]?.stringValue, !id.isEmpty else { throw StripeEventError("invoice has no id") }
        let key = "invoices:\(id)"
        var record = try await record(key)
        if record["event_id"]?.stringValue == event.id { return }  // applied already
        let email = invoice["customer_email"]?.stringValue
        if let emailQueue, let email, !email.isEmpty {
            let number = invoice["number"]?.stringValue ?? id
            let message: JSONValue = [
                "to": .string(email),
                "subject": .string("Payment failed for invoice \(number)"),
                "template": .string(Self.paymentFailedTemplate),
                "data": [
                    "invoice_id": .string(id), "invoice_number": .string(number), "customer": invoice["customer"] ?? .null,
                    "amount_due": invoice["amount_due"] ?? .null, "currency": invoice["currency"] ?? .null,
                    "attempt_count": invoice["attempt_count"] ?? .null,
                    "hosted_invoice_url": invoice["hosted_invoice_url"] ?? .null,
                ],
            ]
            record["email_message_id"] = .string(try await env.queue(emailQueue).send(body: message.serialized(), contentType: .json))
        }
        record["id"] = .string(id)
        record["customer"] = invoice["customer"] ?? .null
        record["customer_email"] = email.map { .string($0) } ?? .null
        record["subscription"] = invoice["subscription"] ?? .null
        record["status"] = "payment_failed"
        record["amount_due"] = invoice["amount_due"] ?? .null
        record["currency"] = invoice["currency"] ?? .null
        record["attempt_count"] = invoice["attempt_count"] ?? .null
        record["failed_at"] = .string(eventTime)
        record["event_id"] = .string(event.id)
        try await kv.put(key, value: JSONValue.object(record).serialized())
    }

    private func checkoutCompleted() async throws {
        let session = event.object
        guard let id = session["id"]?.stringValue, !id.isEmpty else { throw StripeEventError("checkout session has no id") }
        let record: JSONValue = [
            "id": .string(id),
            "status": "completed",
            "customer": session["customer"] ?? .null,
            "customer_email": session["customer_details"]?["email"] ?? session["customer_email"] ?? .null,
            "payment_status": session["payment_status"] ?? .null,
            "mode": session["mode"] ?? .null,
            "amount_total": session["amount_total"] ?? .null,
            "currency": session["currency"] ?? .null,
            "order_id": session["client_reference_id"] ?? session["metadata"]?["order_id"] ?? .null,
            "payment_intent_id": session["payment_intent"] ?? .null,
            "subscription_id": session["subscription"] ?? .null,
            "completed_at": .string(eventTime),
            "event_id": .string(event.id),
        ]
        try await kv.put("checkout_sessions:\(id)", value: record.serialized())
    }

    // MARK: Helpers

    /// The JSON object stored under `key`, empty when absent.
    /// - Throws: ``StripeEventError`` when the stored value is not a JSON object.
    private func record(_ key: String) async throws -> [String: JSONValue] {
        guard let data = try await kv.get(key) else { return [:] }
        guard let object = (try? JSONValue.parse(data))?.objectValue else {
            throw StripeEventError("\(key) holds a value that is not a JSON object")
        }
        return object
    }

    /// When the event happened (its `created`, so a redelivery writes the same time), ISO 8601.
    private var eventTime: String { Self.iso(event.created ?? env.clock.nowSeconds()) }

    static func iso(_ unixSeconds: Int64) -> String { ISO8601Millis.format(Date(timeIntervalSince1970: Double(unixSeconds))) }
}

/// An event whose effects cannot be applied (retried by the consumer).
struct StripeEventError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
