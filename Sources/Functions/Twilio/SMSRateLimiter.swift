import EdgeRuntime
import Foundation
import KVStore

/// At most `limit` messages per phone number per window, counted with the KV store's atomic
/// `increment`: the counter `sms-rate:<number>` is created with a TTL of one window, so the
/// window is fixed from the first message and concurrent requests can never pass the limit
/// together (each increment returns a distinct count).
struct SMSRateLimiter: Sendable {
    let limit: Int
    let windowSeconds: Int64

    /// The decision for one request.
    enum Decision: Equatable {
        case allowed
        /// Over the limit: seconds until the window ends (at least 1).
        case limited(retryAfter: Int64)
    }

    static func key(_ number: String) -> String { "sms-rate:\(number)" }

    /// Counts one message to `number`.
    func acquire(_ number: String, kv: any KVStore, clock: any WallClock) async throws -> Decision {
        let count = try await kv.increment(Self.key(number), by: 1, expirationTtl: windowSeconds)
        guard count > Int64(limit) else { return .allowed }
        let expiration = try await kv.getWithMetadata(Self.key(number))?.expiration
        let remaining = expiration.map { $0 - clock.nowSeconds() } ?? windowSeconds
        return .limited(retryAfter: max(1, remaining))
    }

    /// Gives back a counted message Twilio definitely refused, so it does not use up the quota.
    /// (A counter that expired meanwhile is left alone rather than started at -1.)
    func release(_ number: String, kv: any KVStore) async {
        guard (try? await kv.get(Self.key(number))) != nil else { return }
        _ = try? await kv.increment(Self.key(number), by: -1, expirationTtl: windowSeconds)
    }
}
