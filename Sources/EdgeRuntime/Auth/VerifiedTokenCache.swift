import EdgeCore
import Synchronization

/// Tokens whose signature and issuer/audience already verified, keyed by their SHA-256, so a
/// repeated token skips the signature check until it expires.
///
/// Only the signature and the time-independent claims are skipped on a hit: the caller still
/// checks `exp`, `nbf` and `iat` against the clock. Bounded: at capacity, expired entries are
/// dropped first, then the oldest. Safe because the provider's configuration is fixed for the
/// cache's lifetime (one cache per provider). A key removed from the JWKS does not evict tokens
/// it signed; they stay valid until their own `exp`, as with any stateless JWT.
final class VerifiedTokenCache: Sendable {
    /// One verified token.
    struct Entry: Sendable {
        let claims: [String: JSONValue]
        let times: TimeClaims
    }

    /// SHA-256 of a token, as four words (cheap to hash and compare).
    struct Digest: Hashable, Sendable {
        let words: (UInt64, UInt64, UInt64, UInt64)

        init(token: String) {
            let bytes = Crypto.sha256(token)
            words = bytes.withUnsafeBytes { raw in
                (
                    raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                    raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
                )
            }
        }

        static func == (a: Digest, b: Digest) -> Bool { a.words == b.words }
        func hash(into hasher: inout Hasher) {
            hasher.combine(words.0)
            hasher.combine(words.1)
            hasher.combine(words.2)
            hasher.combine(words.3)
        }
    }

    private struct State {
        var entries: [Digest: Entry] = [:]
        /// Insertion order; may hold digests already removed (skipped when evicting).
        var order: [Digest] = []
        var head = 0
    }

    let capacity: Int
    private let state = Mutex(State())

    /// - Parameter capacity: the most tokens kept; 0 keeps none (every token is verified in full).
    init(capacity: Int = 10_000) {
        precondition(capacity >= 0, "VerifiedTokenCache needs a capacity of at least 0")
        self.capacity = capacity
    }

    /// Entries held now.
    var count: Int { state.withLock { $0.entries.count } }

    /// The cached entry for `digest`, if any (expired ones are dropped on lookup).
    func lookup(_ digest: Digest, now: Double) -> Entry? {
        state.withLock { s in
            guard let entry = s.entries[digest] else { return nil }
            if let exp = entry.times.expiresAt, exp <= now {
                s.entries[digest] = nil
                return nil
            }
            return entry
        }
    }

    /// Remembers a verified token.
    func insert(_ digest: Digest, _ entry: Entry, now: Double) {
        guard capacity > 0 else { return }
        state.withLock { s in
            if s.entries.updateValue(entry, forKey: digest) != nil { return }
            s.order.append(digest)
            if s.entries.count > capacity { Self.evict(&s, capacity: capacity, now: now) }
        }
    }

    /// Drops expired entries, then the oldest, down to 90% of capacity (so the O(n) sweep runs
    /// once per tenth of the capacity in inserts, not on every insert); compacts the order list.
    private static func evict(_ s: inout State, capacity: Int, now: Double) {
        s.entries = s.entries.filter { ($0.value.times.expiresAt ?? 0) > now }
        let target = capacity - capacity / 10
        while s.entries.count > target, s.head < s.order.count {
            s.entries[s.order[s.head]] = nil
            s.head += 1
        }
        if s.head > s.order.count / 2 || s.order.count > 2 * capacity {
            s.order = s.order[s.head...].filter { s.entries[$0] != nil }
            s.head = 0
        }
    }
}
