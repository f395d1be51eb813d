import EdgeRuntime
import Foundation
import Queues

/// The test events of `edge-run trigger` (as `stripe trigger` sends): bodies shaped like the
/// providers' real deliveries, each signed exactly the way the matching built-in handler
/// verifies it, with the signing helpers those handlers verify with. Every call makes fresh ids,
/// so a second trigger is a new event, not a replay the handler dedupes.
public enum TriggerEvents {
    /// A provider `trigger` knows: the handler it targets and the secret that handler reads.
    public struct Provider: Sendable {
        public let name: String
        public let handler: String
        public let secretName: String
        /// The events it can send (for twilio: `status <MessageStatus>`).
        public let events: [String]
    }

    public static let providers: [Provider] = [
        Provider(
            name: "stripe",
            handler: "stripe.webhook",
            secretName: StripeWebhookFunction.secretName,
            events: ["payment_intent.succeeded", "customer.subscription.created", "invoice.payment_failed", "checkout.session.completed"]
        ),
        Provider(name: "clerk", handler: "clerk.webhook", secretName: SignedAuthWebhook.secretName(for: .clerk), events: ["user.created"]),
        Provider(name: "resend", handler: "resend.webhook", secretName: ResendWebhookFunction.secretName, events: ["email.delivered"]),
        Provider(
            name: "twilio",
            handler: "twilio.status",
            secretName: TwilioStatusFunction.tokenSecret,
            events: ["status queued", "status sent", "status delivered", "status undelivered", "status failed"]
        ),
    ]

    public static func provider(named name: String) -> Provider? { providers.first { $0.name == name.lowercased() } }

    /// A signed request, ready to POST to the handler's route.
    public struct Signed: Sendable {
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Builds and signs one event.
    /// - Parameters:
    ///   - event: e.g. `payment_intent.succeeded`; for twilio `status delivered`.
    ///   - overrides: deep-merged into the JSON event (for twilio: form fields to set).
    ///   - secret: the value of ``Provider/secretName``.
    ///   - url: the full URL the request goes to (Twilio signs it; with `public_url` configured, that URL + path).
    ///   - now: unix seconds.
    /// - Throws: ``Failure`` for an unknown event, bad overrides or an unusable secret.
    public static func make(provider: Provider, event: String, overrides: JSONValue?, secret: String, url: String, now: Int64) throws -> Signed {
        guard provider.events.contains(event) else {
            throw Failure("\(provider.name) has no test event \"\(event)\" (one of: \(provider.events.joined(separator: ", ")))")
        }
        switch provider.name {
        case "stripe":
            let body = merged(stripeEvent(event, now: now), overrides).serialized()
            return Signed(
                headers: [
                    ("Content-Type", "application/json"), ("Stripe-Signature", StripeSignature.sign(payload: body, secret: secret, timestamp: now)),
                ],
                body: Array(body)
            )
        case "clerk", "resend":
            let payload = provider.name == "clerk" ? clerkUserCreated(now: now) : resendDelivered(now: now)
            let body = merged(payload, overrides).serialized()
            let id = Self.id("msg_")
            let signature: String
            do { signature = try StandardWebhookSignature.sign(payload: body, id: id, timestamp: now, secret: secret) } catch {
                throw Failure("\(provider.secretName) is not a whsec_ signing secret: \(error.message)")
            }
            return Signed(
                headers: [("Content-Type", "application/json"), ("svix-id", id), ("svix-timestamp", String(now)), ("svix-signature", signature)],
                body: Array(body)
            )
        default:
            let status = String(event.dropFirst("status ".count))
            var fields = twilioStatus(status)
            if let overrides {
                guard let object = overrides.objectValue else { throw Failure("--data for twilio must be a JSON object of form fields") }
                for (name, value) in object.sorted(by: { $0.key < $1.key }) {
                    let text = value.stringValue ?? String(decoding: value.serialized(), as: UTF8.self)
                    if let i = fields.firstIndex(where: { $0.0 == name }) { fields[i].1 = text } else { fields.append((name, text)) }
                }
            }
            let signature = TwilioSignature.sign(url: url, parameters: fields.map { (name: $0.0, value: $0.1) }, authToken: secret)
            return Signed(
                headers: [("Content-Type", "application/x-www-form-urlencoded"), ("X-Twilio-Signature", signature)],
                body: Array(FormEncoding.encode(fields).utf8)
            )
        }
    }

    /// `overrides` deep-merged into `base`: objects merge key by key, anything else replaces.
    public static func merged(_ base: JSONValue, _ overrides: JSONValue?) -> JSONValue {
        guard let overrides else { return base }
        guard case .object(var target) = base, case .object(let changes) = overrides else { return overrides }
        for (key, value) in changes { target[key] = merged(target[key] ?? .null, value) }
        return .object(target)
    }

    private static func id(_ prefix: String) -> String { Crypto.randomID(prefix: prefix, byteCount: 12) }

    // MARK: Fixtures (shapes from the providers' API references and sample deliveries)

    static func stripeEvent(_ type: String, now: Int64) -> JSONValue {
        let customer = JSONValue.string(id("cus_"))
        let object: JSONValue
        switch type {
        case "payment_intent.succeeded":
            object = [
                "id": .string(id("pi_")), "object": "payment_intent", "amount": 2000, "amount_received": 2000, "currency": "usd",
                "customer": customer, "status": "succeeded", "created": .integer(now), "livemode": false,
                "payment_method_types": ["card"], "metadata": ["order_id": .string(id("order_"))],
            ]
        case "customer.subscription.created":
            object = [
                "id": .string(id("sub_")), "object": "subscription", "customer": customer, "status": "active",
                "created": .integer(now), "current_period_start": .integer(now), "current_period_end": .integer(now + 30 * 86_400),
                "cancel_at_period_end": false, "livemode": false,
                "items": [
                    "object": "list",
                    "data": [
                        [
                            "id": .string(id("si_")), "object": "subscription_item", "quantity": 1,
                            "current_period_start": .integer(now), "current_period_end": .integer(now + 30 * 86_400),
                            "price": [
                                "id": "price_test_monthly", "object": "price", "currency": "usd", "unit_amount": 1500,
                                "recurring": ["interval": "month", "interval_count": 1],
                            ],
                        ]
                    ],
                ],
            ]
        case "invoice.payment_failed":
            object = [
                "id": .string(id("in_")), "object": "invoice", "customer": customer, "customer_email": "jenny.rosen@example.com",
                "amount_due": 2000, "amount_paid": 0, "currency": "usd", "status": "open", "attempt_count": 1,
                "subscription": .string(id("sub_")), "created": .integer(now), "livemode": false,
                "next_payment_attempt": .integer(now + 3 * 86_400), "hosted_invoice_url": "https://invoice.stripe.com/i/test",
            ]
        default:  // checkout.session.completed
            object = [
                "id": .string(id("cs_test_")), "object": "checkout.session", "mode": "payment", "status": "complete",
                "payment_status": "paid", "amount_total": 2000, "currency": "usd", "customer": customer,
                "customer_details": ["email": "jenny.rosen@example.com"], "payment_intent": .string(id("pi_")),
                "created": .integer(now), "livemode": false, "metadata": ["order_id": .string(id("order_"))],
            ]
        }
        return [
            "id": .string(id("evt_")), "object": "event", "api_version": "2024-06-20", "created": .integer(now), "livemode": false,
            "pending_webhooks": 1, "request": ["id": .null, "idempotency_key": .null], "type": .string(type),
            "data": ["object": object],
        ]
    }

    static func clerkUserCreated(now: Int64) -> JSONValue {
        let emailID = id("idn_")
        let ms = JSONValue.integer(now * 1000)
        return [
            "object": "event", "type": "user.created", "timestamp": ms, "instance_id": .string(id("ins_")),
            "data": [
                "id": .string(id("user_")), "object": "user", "first_name": "Example", "last_name": "User",
                "primary_email_address_id": .string(emailID), "created_at": ms, "updated_at": ms, "image_url": "https://img.clerk.com/test",
                "email_addresses": [
                    [
                        "id": .string(emailID), "object": "email_address", "email_address": "example@example.org",
                        "verification": ["status": "verified", "strategy": "ticket"],
                    ]
                ],
                "phone_numbers": [], "public_metadata": [:], "private_metadata": [:], "unsafe_metadata": [:],
            ],
        ]
    }

    static func resendDelivered(now: Int64) -> JSONValue {
        let time = JSONValue.string(ISO8601Millis.format(Date(timeIntervalSince1970: Double(now))))
        return [
            "type": "email.delivered", "created_at": time,
            "data": [
                "email_id": .string(UUID().uuidString.lowercased()), "created_at": time, "from": "Acme <onboarding@resend.dev>",
                "to": ["delivered@resend.dev"], "subject": "Sending this example",
            ],
        ]
    }

    static func twilioStatus(_ status: String) -> [(String, String)] {
        // Twilio sids: two letters and 32 hex digits.
        let account = Crypto.randomID(prefix: "AC", byteCount: 16)
        let sid = Crypto.randomID(prefix: "SM", byteCount: 16)
        return [
            ("AccountSid", account), ("ApiVersion", "2010-04-01"), ("From", "+15005550006"), ("MessageSid", sid),
            ("MessageStatus", status), ("SmsSid", sid), ("SmsStatus", status), ("To", "+15558675310"),
        ]
    }
}
