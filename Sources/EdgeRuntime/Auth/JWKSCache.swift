import EdgeCore
import Foundation
import KVStore
import Synchronization

/// One provider's JSON Web Key Set: fetched through ``HTTPFetching``, cached, refreshed on
/// rotation, persisted in KV, and never lost to a provider outage.
///
/// - A fetched set is used for `jwks_cache_max_age_seconds`, shortened (never lengthened) by the
///   answer's `Cache-Control: max-age`, but not below the cooldown.
/// - A `kid` not in the set triggers a refetch, at most once per `jwks_cooldown_seconds`; every
///   fetch is single-flight: concurrent callers wait for the one in progress.
/// - When the set is past its age but still has the key, the key is used at once and the set is
///   refreshed in the background (stale-while-revalidate), so an outage adds no latency.
/// - A failed fetch (transport error, non-200, not a JWKS) keeps the last good set.
/// - The last good set is stored in KV under `jwks:<provider>` and loaded on first use, so a
///   restarted process verifies without the provider.
final class JWKSCache: Sendable {
    /// The timings and locations of one provider.
    struct Settings: Sendable {
        var jwksURL: String
        var maxAge: Double
        var cooldown: Double
        /// The KV key of the persisted set.
        var kvKey: String
    }

    private struct State {
        var keys: JWKSet?
        /// When the current set should be refreshed.
        var refreshAt: Double = -.infinity
        /// When the last network fetch started (cooldown reference).
        var lastFetch: Double?
        var persistedLoaded = false
        var inFlight: Task<Void, Never>?
        var fetches = 0
    }

    private enum Decision {
        case use(JWK)
        case wait(Task<Void, Never>)
        case refuse(AuthError)
    }

    let settings: Settings
    private let fetcher: any HTTPFetching
    private let kv: (any KVStore)?
    private let clock: any WallClock
    private let state = Mutex(State())

    init(settings: Settings, fetcher: any HTTPFetching, kv: (any KVStore)?, clock: any WallClock) {
        self.settings = settings
        self.fetcher = fetcher
        self.kv = kv
        self.clock = clock
    }

    /// Network fetches started so far (diagnostics and tests).
    var fetchCount: Int { state.withLock { $0.fetches } }

    /// The key that verifies a token with this `kid` and `alg`.
    /// - Throws: ``AuthError`` `.unknownKey`, or `.keysUnavailable` when no set was ever obtained.
    func key(id: String?, for algorithm: JWTAlgorithm) async throws(AuthError) -> JWK {
        for attempt in 0..<2 {
            switch decide(id: id, algorithm: algorithm, mayFetch: attempt == 0) {
            case .use(let key): return key
            case .refuse(let error): throw error
            case .wait(let task): await task.value
            }
        }
        throw AuthError(.unknownKey)
    }

    /// Waits for a fetch in progress, if any (tests use it after a background refresh).
    func settle() async {
        while let task = state.withLock({ $0.inFlight }) { await task.value }
    }

    /// Under the lock: use a cached key, join or start a fetch, or refuse.
    private func decide(id: String?, algorithm: JWTAlgorithm, mayFetch: Bool) -> Decision {
        let now = clock.now()
        return state.withLock { s in
            let found = s.keys?.key(id: id, for: algorithm)
            let fresh = now < s.refreshAt
            if let found, fresh { return .use(found) }
            if let task = s.inFlight {
                return found.map(Decision.use) ?? (mayFetch ? .wait(task) : .refuse(Self.missing(s)))
            }
            let cooledDown = s.lastFetch.map { now - $0 >= settings.cooldown } ?? true
            guard mayFetch, cooledDown || !s.persistedLoaded else {
                return found.map(Decision.use) ?? .refuse(Self.missing(s))
            }
            // The task takes the lock only after this closure returns, so `inFlight` is set first.
            let task = Task { await self.refresh() }
            s.inFlight = task
            // A stale set that has the key serves now; the refresh runs in the background.
            return found.map(Decision.use) ?? .wait(task)
        }
    }

    private static func missing(_ s: State) -> AuthError {
        s.keys == nil ? AuthError(.keysUnavailable) : AuthError(.unknownKey)
    }

    /// Loads the persisted set on first use, then fetches unless that set is still fresh.
    private func refresh() async {
        if !state.withLock({ $0.persistedLoaded }) {
            await loadPersisted()
            let fresh = state.withLock { s in
                s.persistedLoaded = true
                return s.keys != nil && clock.now() < s.refreshAt
            }
            if fresh {
                state.withLock { $0.inFlight = nil }
                return
            }
        }
        state.withLock { s in
            s.lastFetch = clock.now()
            s.fetches += 1
        }
        let fetched = await fetch()
        let now = clock.now()
        state.withLock { s in
            if let fetched {
                s.keys = fetched.keys
                s.refreshAt = now + fetched.maxAge
            }
        }
        if let fetched { await persist(fetched.body, fetchedAt: now, maxAge: fetched.maxAge) }
        state.withLock { $0.inFlight = nil }
    }

    /// One GET of the JWKS; `nil` when it failed or answered something that is not a usable JWKS.
    private func fetch() async -> (keys: JWKSet, body: [UInt8], maxAge: Double)? {
        var request = FetchRequest(url: settings.jwksURL, headers: ["Accept": "application/json"])
        request.connectTimeout = .seconds(3)
        request.timeout = .seconds(5)
        request.maxAttempts = 1
        request.maxResponseBytes = 1 << 20
        guard let response = try? await fetcher.fetch(request), response.status == 200,
            let keys = JWKSet.parse(response.body)
        else { return nil }
        return (keys, response.body, effectiveMaxAge(cacheControl: response.headers["Cache-Control"]))
    }

    /// The configured age, shortened by a smaller `max-age` (or `no-cache`/`no-store`, read as 0),
    /// but never below the cooldown so a provider cannot make every request refetch.
    func effectiveMaxAge(cacheControl: String?) -> Double {
        guard let header = CacheControl.maxAge(cacheControl) else { return settings.maxAge }
        return min(settings.maxAge, max(header, settings.cooldown))
    }

    // MARK: Persistence

    private func persist(_ body: [UInt8], fetchedAt: Double, maxAge: Double) async {
        guard let kv, let jwks = try? JSONValue.parse(Data(body)) else { return }
        let record: JSONValue = ["fetched_at": .number(fetchedAt), "max_age": .number(maxAge), "jwks": jwks]
        // Best effort: a KV failure only costs the restart-without-provider benefit.
        try? await kv.put(settings.kvKey, value: record.serialized(), options: KVPutOptions())
    }

    private func loadPersisted() async {
        guard let kv, let data = try? await kv.get(settings.kvKey),
            let record = try? JSONValue.parse(data), let jwks = record["jwks"],
            let keys = JWKSet.parse(Array(jwks.serialized()))
        else { return }
        let fetchedAt = record["fetched_at"]?.doubleValue ?? 0
        let maxAge = min(record["max_age"]?.doubleValue ?? 0, settings.maxAge)
        state.withLock { s in
            guard s.keys == nil else { return }
            s.keys = keys
            s.refreshAt = fetchedAt + maxAge
        }
    }
}

/// Reading the one `Cache-Control` directive the JWKS cache cares about.
enum CacheControl {
    /// `max-age` in seconds; 0 for `no-cache` / `no-store`; `nil` when the header says neither.
    static func maxAge(_ header: String?) -> Double? {
        guard let header else { return nil }
        var result: Double?
        for directive in header.split(separator: ",") {
            let parts = directive.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            switch parts[0].lowercased() {
            case "no-cache", "no-store": return 0
            case "max-age" where parts.count == 2:
                let value = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                if let seconds = Int64(value), seconds >= 0 { result = min(result ?? .infinity, Double(seconds)) }
            default: continue
            }
        }
        return result
    }
}
