import EdgeRuntime
import Foundation
import KVStore

/// Crash-safe intake of a signed webhook delivery: the one implementation behind
/// `stripe.webhook`, `clerk.webhook` and `supabase.webhook`.
///
/// The event id is claimed with a KV marker in two states. A delivery creates the marker
/// `pending` with compare-and-set (only one concurrent delivery wins) — a committed write — then
/// enqueues, then marks it `enqueued`. A later delivery of an `enqueued` id is a duplicate:
/// acknowledged, not enqueued again. A `pending` marker older than `pendingLease` was left by a
/// delivery that died between claim and enqueue (a crash): the next delivery takes it over, so
/// the provider's re-send is not lost. A fresh `pending` marker means the same event is being
/// enqueued right now: the duplicate waits up to ``inFlightWait`` for it and is then a
/// duplicate; a claim still pending after that (its delivery is stuck or died) is 409, and the
/// provider sends it again later. A failed enqueue releases the claim.
struct WebhookIntake: Sendable {
    /// How long an id is remembered once enqueued (the provider's re-send window and a margin).
    let dedupeTTL: Int64
    /// How long a `pending` claim protects its delivery before another may take it over.
    let pendingLease: Int64

    /// How long a duplicate waits for the delivery that is enqueueing the same event.
    static let inFlightWait: Duration = .seconds(1)

    /// What ``receive(_:kv:clock:enqueue:)`` did.
    enum Outcome: Equatable, Sendable {
        /// The event was enqueued as this message.
        case enqueued(messageID: String)
        /// The id was enqueued by an earlier delivery: nothing was done.
        case duplicate
    }

    /// The marker key for `id` under `prefix` (`stripe:event:`, `replay:<function>:`): the key
    /// written by the claim and the one a release rewrites, so the two never differ. An id that
    /// would make the key longer than KV's 512 bytes is replaced by `sha256:<hex of its SHA-256>`
    /// (``BoundedKey``).
    static func markerKey(prefix: String, id: String) -> String { BoundedKey.make(prefix: prefix, id: id) }

    /// Claims `key`, runs `enqueue` when the claim is won, and records the result.
    /// - Parameters:
    ///   - key: the marker key (see ``markerKey(prefix:id:)``).
    ///   - kv: the store holding the markers.
    ///   - clock: the wall clock the leases are measured with.
    ///   - enqueue: sends the event durably; returns the message id.
    /// - Throws: ``EdgeHTTPError`` 409 when another delivery holds a fresh claim past the wait;
    ///   whatever `enqueue` or the store throws (the claim is released first).
    func receive(
        _ key: String,
        kv: any KVStore,
        clock: any WallClock,
        enqueue: () async throws -> String
    ) async throws -> Outcome {
        guard let version = try await claim(key, kv: kv, now: clock.nowSeconds()) else { return .duplicate }
        let messageID: String
        do {
            messageID = try await enqueue()
        } catch {
            // Not enqueued: release the claim (only if it is still ours) so the re-send enqueues it.
            _ = try? await kv.compareAndSet(key, value: Marker.released, expectedVersion: version, options: KVPutOptions(expirationTtl: 60))
            throw error
        }
        try await kv.put(key, value: Marker.enqueued(messageID: messageID, at: clock.nowSeconds()), options: KVPutOptions(expirationTtl: dedupeTTL))
        return .enqueued(messageID: messageID)
    }

    /// Claims the event id: the version of the stored `pending` marker, or `nil` when the event
    /// was enqueued already.
    private func claim(_ key: String, kv: any KVStore, now: Int64) async throws -> UInt64? {
        let pending = Marker.pending(at: now)
        let options = KVPutOptions(expirationTtl: dedupeTTL)
        let waitUntil = ContinuousClock.now + Self.inFlightWait
        var expected: UInt64? = nil
        while true {
            let result = try await kv.compareAndSet(key, value: pending, expectedVersion: expected, options: options)
            if case .stored(let version) = result { return version }
            guard let entry = try await kv.getWithMetadata(key) else {
                expected = nil
                continue
            }
            let marker = try? JSONValue.parse(entry.value)
            switch marker?["state"]?.stringValue {
            case "enqueued"?:
                return nil
            case "pending"? where Self.leaseExpired(claimedAt: marker?["at"]?.intValue ?? 0, now: now, lease: pendingLease):
                expected = entry.version  // a delivery died between claim and enqueue: take over
            case "pending"?:
                guard ContinuousClock.now < waitUntil else {
                    throw EdgeHTTPError(.conflict, "this event is being received by another delivery; retry later")
                }
                expected = nil
                try await Task.sleep(for: .milliseconds(5))
            default:
                expected = entry.version  // a released claim ("{}") or an unreadable marker
            }
        }
    }

    /// Whether a claim made at `claimedAt` is past its lease at `now` (no arithmetic that can trap
    /// on a marker's number).
    static func leaseExpired(claimedAt: Int64, now: Int64, lease: Int64) -> Bool {
        let (age, overflow) = now.subtractingReportingOverflow(claimedAt)
        return overflow ? claimedAt < 0 : age >= lease
    }

    /// The marker's JSON.
    enum Marker {
        static func pending(at: Int64) -> Data { Data(#"{"at":\#(at),"state":"pending"}"#.utf8) }
        static func enqueued(messageID: String, at: Int64) -> Data {
            Data(#"{"at":\#(at),"message_id":"\#(messageID)","state":"enqueued"}"#.utf8)
        }
        static let released = Data("{}".utf8)
    }
}
