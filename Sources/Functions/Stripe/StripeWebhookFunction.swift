import EdgeRuntime
import Foundation
import KVStore
import Queues

/// `stripe.webhook`: verifies `Stripe-Signature` over the raw body, dedupes by event id and
/// enqueues `{id, type, data, created}` durably before answering 200 `{"received":true}`.
///
/// Dedupe is a KV marker `stripe:event:<id>` in two states. A delivery claims the id by
/// creating the marker `pending` with compare-and-set (only one concurrent delivery wins),
/// enqueues, then marks it `enqueued`. A later delivery of an `enqueued` id is acknowledged
/// without enqueueing. A `pending` marker older than `pending_lease_seconds` was left by a
/// delivery that died between claim and enqueue (a crash): the next delivery takes it over, so
/// Stripe's re-send is not lost. A fresh `pending` marker means the same event is being
/// enqueued right now: the duplicate waits up to a second for it and answers 200; a claim still
/// pending after that (its delivery is stuck or died) is 409, and Stripe sends it again later.
public struct StripeWebhookFunction: EdgeFunction {
    public static var kinds: FunctionKinds { .fetch }

    /// The secret holding the endpoint's signing secret (`whsec_…`).
    static let secretName = "STRIPE_WEBHOOK_SECRET"

    let queue: String
    let kvBinding: String
    let tolerance: Int64
    let dedupeTTL: Int64
    let pendingLease: Int64

    public init(config: FunctionConfig) throws {
        queue = try config.queue("queue")!
        kvBinding = try config.kvBinding()
        tolerance = Int64(try config.int("tolerance_seconds", default: Int(StripeSignature.defaultTolerance), in: 0...31_536_000_000))
        // Stripe re-sends a failed delivery for up to 3 days; remember ids a little longer.
        dedupeTTL = Int64(try config.int("dedupe_ttl_seconds", default: 4 * 86_400, in: 60...365 * 86_400))
        pendingLease = Int64(try config.int("pending_lease_seconds", default: 60, in: 1...86_400))
        try config.requireSecret(Self.secretName)
    }

    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        let secret = try env.requiredSecret(Self.secretName)
        do {
            _ = try StripeSignature.verify(
                payload: request.body, header: request.headers["Stripe-Signature"], secret: secret,
                tolerance: tolerance, now: env.clock.nowSeconds())
        } catch {
            throw EdgeHTTPError(.badRequest, error.message)
        }
        let event = try Self.envelope(of: request.body)
        let kv = try env.kv(kvBinding)
        let markerKey = "stripe:event:\(event.id)"
        guard let claim = try await claim(markerKey, kv: kv, now: env.clock.nowSeconds()) else {
            return Self.received
        }
        let messageID: String
        do {
            messageID = try await env.queue(queue).send(body: event.messageBody, contentType: .json)
        } catch {
            // Release the claim so Stripe's re-send can enqueue the event.
            if case .stored(let version) = claim {
                _ = try? await kv.compareAndSet(markerKey, value: Data("{}".utf8), expectedVersion: version, options: KVPutOptions(expirationTtl: 60))
            }
            throw error
        }
        try await kv.put(markerKey, value: Marker.enqueued(messageID: messageID, at: env.clock.nowSeconds()), options: KVPutOptions(expirationTtl: dedupeTTL))
        return Self.received
    }

    static var received: EdgeResponse { .json(["received": true]) }

    /// Claims the event id: the stored marker, or `nil` when the event was enqueued already.
    ///
    /// A concurrent delivery of the same event waits (up to ``inFlightWait``) for the one
    /// enqueueing it and then answers as a duplicate, so the contract's 200 holds for duplicates.
    /// - Throws: ``EdgeHTTPError`` 409 when a claim stays `pending` past the wait (its delivery is
    ///   stuck or died; Stripe's later re-send takes it over once the lease is over).
    private func claim(_ key: String, kv: any KVStore, now: Int64) async throws -> KVCompareAndSetResult? {
        let pending = Marker.pending(at: now)
        let options = KVPutOptions(expirationTtl: dedupeTTL)
        let waitUntil = ContinuousClock.now + Self.inFlightWait
        var expected: UInt64? = nil
        while true {
            let result = try await kv.compareAndSet(key, value: pending, expectedVersion: expected, options: options)
            if case .stored = result { return result }
            guard let entry = try await kv.getWithMetadata(key) else { expected = nil; continue }
            let marker = try? JSONValue.parse(entry.value)
            switch marker?["state"]?.stringValue {
            case "enqueued"?:
                return nil
            case "pending"? where now - (marker?["at"]?.intValue ?? 0) >= pendingLease:
                expected = entry.version  // a delivery died between claim and enqueue: take over
            case "pending"?:
                guard ContinuousClock.now < waitUntil else {
                    throw EdgeHTTPError(.conflict, "this event is being received by another delivery; retry later")
                }
                expected = nil
                try await Task.sleep(for: .milliseconds(5))
            default:
                expected = entry.version  // a released claim ("{}")
            }
        }
    }

    /// How long a duplicate waits for the delivery that is enqueueing the same event.
    static let inFlightWait: Duration = .seconds(1)

    /// The dedupe marker's JSON.
    enum Marker {
        static func pending(at: Int64) -> Data { Data(#"{"at":\#(at),"state":"pending"}"#.utf8) }
        static func enqueued(messageID: String, at: Int64) -> Data {
            Data(#"{"at":\#(at),"message_id":"\#(messageID)","state":"enqueued"}"#.utf8)
        }
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
