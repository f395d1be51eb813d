import EdgeCore
import Foundation
import KVStore
import Logging
import Queues
import Synchronization

/// What a handler can reach: vars, secrets, KV bindings, queue producers and `fetch`.
public struct Env: Sendable {
    /// The manifest's `vars`.
    public let vars: [String: String]
    private let secretValues: [String: String]
    private let kvStores: [String: any KVStore]
    /// The runtime's own namespace (replay markers, cached provider keys): not a manifest binding.
    public let internalKV: (any KVStore)?
    /// The queue broker behind the producers.
    public let queues: any QueueBroker
    /// Outbound HTTP (libcurl, with retries and a circuit breaker).
    public let fetcher: any HTTPFetching
    /// The wall clock (injectable for tests).
    public let clock: any WallClock
    public let logger: Logger

    public init(
        vars: [String: String],
        secrets: [String: String],
        kvStores: [String: any KVStore],
        queues: any QueueBroker,
        fetcher: any HTTPFetching,
        clock: any WallClock = SystemWallClock(),
        logger: Logger,
        internalKV: (any KVStore)? = nil
    ) {
        self.internalKV = internalKV
        self.vars = vars
        self.secretValues = secrets
        self.kvStores = kvStores
        self.queues = queues
        self.fetcher = fetcher
        self.clock = clock
        self.logger = logger
    }

    /// The var `name`, or `defaultValue`.
    public func variable(_ name: String, default defaultValue: String? = nil) -> String? { vars[name] ?? defaultValue }

    /// The value of the declared secret `name` (from the environment or the env file).
    public func secret(_ name: String) -> String? { secretValues[name] }

    /// The value of a secret a handler cannot work without.
    /// - Throws: ``EdgeHTTPError`` 500 (the manifest check makes this unreachable for declared secrets).
    public func requiredSecret(_ name: String) throws -> String {
        guard let value = secretValues[name] else { throw EdgeHTTPError(.internalError, "server misconfigured") }
        return value
    }

    /// The KV namespace bound as `binding`.
    public func kv(_ binding: String) throws -> any KVStore {
        guard let store = kvStores[binding] else { throw KVError(.unknownNamespace, "KV binding \"\(binding)\" is not declared") }
        return store
    }

    /// Every KV binding.
    public var kvBindings: [String: any KVStore] { kvStores }

    /// A producer for `queue`.
    public func queue(_ name: String) throws -> QueueProducer { try queues.producer(for: name) }

    /// Performs an outbound request.
    public func fetch(_ request: FetchRequest) async throws -> FetchResponse { try await fetcher.fetch(request) }
}

/// Lets a handler keep working after its response went out (`waitUntil`), as in Workers.
public struct ExecutionContext: Sendable {
    let tracker: BackgroundWork

    public init(tracker: BackgroundWork) { self.tracker = tracker }

    /// Runs `work` after (or while) the response is sent; graceful shutdown waits for it.
    public func waitUntil(_ work: @escaping @Sendable () async -> Void) {
        tracker.start(work)
    }
}

/// Background work started with `waitUntil`, awaited on shutdown.
public final class BackgroundWork: Sendable {
    private struct State {
        var tasks: [UInt64: Task<Void, Never>] = [:]
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())

    public init() {}

    func start(_ work: @escaping @Sendable () async -> Void) {
        state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            s.tasks[id] = Task { [weak self] in
                await work()
                self?.finish(id)
            }
        }
    }

    private func finish(_ id: UInt64) { _ = state.withLock { $0.tasks.removeValue(forKey: id) } }

    /// How many are still running.
    public var pending: Int { state.withLock { $0.tasks.count } }

    /// Waits until every started piece of work (including work started meanwhile) finished.
    public func drain() async {
        while true {
            let tasks = state.withLock { Array($0.tasks.values) }
            if tasks.isEmpty { return }
            for task in tasks { await task.value }
        }
    }
}
