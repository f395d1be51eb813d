import EdgeCore
import EdgeStorage
import Foundation
import KVStore
import Logging
import Queues
import ServiceLifecycle
import Synchronization

/// Everything `serve` derives from one manifest and its secrets — the route table, the function
/// instances, their `env`, auth verifiers, cron entries and queue consumers — as one immutable
/// value. A reload builds a new one and swaps it in (``GenerationSlot``): a request keeps the
/// generation it started with. Things derived from the manifest hang here, so a reload replaces them.
final class Generation: Sendable {
    /// 1 for the manifest `serve` started with, then one more per reload.
    let number: Int
    let manifest: Manifest
    let env: Env
    let router: Router
    let functions: [LoadedFunction]
    let authenticators: [String: any RequestAuthenticator]
    /// The analytics middleware's receivers by provider (`"mixpanel"`, `"posthog"`).
    let analyticsSinks: [String: any RequestAnalyticsSink]
    /// The request metrics of each route, in ``Router/patterns`` order.
    let routeMetrics: [RouteRequestMetrics]
    let broker: any QueueBroker
    let kvStores: [String: any KVStore]
    /// One per queue with a consumer, bound to this generation's function instances.
    let consumers: [(queue: String, service: any Service)]
    /// The gate of `/_edge/tail` and `/_edge/console` (the manifest's admin functions and `console`).
    let admin: AdminSurface
    /// `GET /_edge/openapi.json`'s bytes, built from this manifest.
    let openAPIDocument: Data
    /// The local console and its API (`/_edge/console`, `/_edge/api/…`) over this manifest.
    let console: ConsoleEndpoints?
    let cron: CronScheduler
    /// Handlers with buffers, flushed on their interval and once this generation is retired.
    let lifecycles: [any FunctionLifecycle]
    /// Requests answering on this generation now (a retired one is flushed once this is 0).
    let requests = Atomic<Int>(0)

    /// What every generation of one server shares.
    struct Shared: Sendable {
        let storage: any StorageBackend
        let internalKV: any KVStore
        let fetcher: any HTTPFetching
        let clock: any QueueClock
        let metrics: EdgeMetrics
        /// Verifiers given in ``ServeOptions/authenticators`` (beat the manifest's providers).
        let authenticators: [String: any RequestAuthenticator]
        let registry: FunctionRegistry
        let live: LiveEvents
        /// `serve`'s `--host` (the developer surfaces' gate depends on it).
        let host: String
        /// `--test-scheduled`.
        let testScheduled: Bool
        /// The edge-run version (the OpenAPI document's `info.version`).
        let version: String
        let logger: Logger
    }

    /// Opens `manifest`'s KV bindings and queues (in `shared`'s storage) and builds every
    /// function (their initialisers are their start hooks).
    /// - Parameter broker: the serving generation's broker, whose wake-ups the new one shares;
    ///   `nil` at start (then leases left by a previous process are taken back).
    /// - Throws: storage errors, or a function's config error.
    init(number: Int, manifest: Manifest, secrets: [String: String], shared: Shared, previous broker: (any QueueBroker)?) async throws {
        self.number = number
        self.manifest = manifest
        let logger = shared.logger
        // Functions first: a config error refuses a reload before anything is opened or recorded.
        var loaded: [LoadedFunction] = []
        for spec in manifest.functions {
            guard let type = shared.registry.type(for: spec.handler) else { throw FunctionConfigError(nil, "unknown handler \"\(spec.handler)\"") }
            let config = FunctionConfig(
                functionName: spec.name,
                values: spec.config,
                declarations: manifest.declarations,
                authProvider: spec.auth,
                authProviderConfig: spec.auth.flatMap { manifest.authProviders[$0] },
                limits: spec.limits
            )
            loaded.append(LoadedFunction(spec: spec, instance: try type.init(config: config)))
        }
        functions = loaded
        // One JWT verifier per declared provider (tests may substitute their own).
        var authenticators = shared.authenticators
        for (name, config) in manifest.authProviders where authenticators[name] == nil {
            authenticators[name] = JWTAuthenticator(name: name, config: config, fetcher: shared.fetcher, kv: shared.internalKV, clock: shared.clock)
        }
        self.authenticators = authenticators
        // The first sink per provider takes the analytics middleware's events.
        lifecycles = loaded.compactMap { $0.instance as? any FunctionLifecycle }
        var sinks: [String: any RequestAnalyticsSink] = [:]
        for f in loaded {
            guard let sink = f.instance as? any RequestAnalyticsSink, sinks[sink.analyticsProvider] == nil else { continue }
            sinks[sink.analyticsProvider] = sink
        }
        for (i, f) in loaded.enumerated() {
            if let provider = f.spec.analytics, sinks[provider] == nil {
                let handler = provider == "mixpanel" ? "mixpanel.track" : "posthog.capture"
                throw FunctionConfigError(nil, "functions[\(i)].analytics: \"\(provider)\" needs a function with handler \"\(handler)\"")
            }
        }
        analyticsSinks = sinks
        admin = AdminSurface(manifest: manifest, host: shared.host)
        openAPIDocument = OpenAPIDocument.data(
            manifest: manifest,
            registry: shared.registry,
            options: .init(testScheduled: shared.testScheduled, version: shared.version)
        )
        var stores: [String: any KVStore] = [:]
        for binding in manifest.kvBindings {
            stores[binding] = try await shared.storage.kvStore(
                binding: binding,
                limits: KVLimits(minTTLSeconds: manifest.kvMinTTLSeconds),
                clock: shared.clock
            )
        }
        kvStores = stores
        let queueLogger = Logger(label: "edge-run.queues", factory: { _ in logger.handler })
        if let broker {
            self.broker = try await shared.storage.queueBroker(
                redeclaring: manifest.queues,
                replacing: broker,
                clock: shared.clock,
                logger: queueLogger
            )
        } else {
            self.broker = try await shared.storage.queueBroker(
                declaring: manifest.queues,
                clock: shared.clock,
                reclaimLeases: true,
                logger: queueLogger
            )
        }
        let metered = stores.mapValues { MeteredKVStore(base: $0, metrics: shared.metrics) as any KVStore }
        let env = Env(
            vars: manifest.vars,
            secrets: secrets,
            kvStores: metered,
            queues: self.broker,
            fetcher: shared.fetcher,
            clock: shared.clock,
            logger: logger,
            internalKV: shared.internalKV
        )
        self.env = env
        var routes: [Router.Entry] = []
        for (i, f) in loaded.enumerated() { for r in f.spec.routes { routes.append(Router.Entry(pattern: r, function: i)) } }
        router = Router(routes)
        routeMetrics = router.patterns.map { shared.metrics.route($0.source, method: $0.method) }

        let live = shared.live
        var consumerFunctions: [String: String] = [:]
        for queue in manifest.queues { if let name = queue.consumer?.function { consumerFunctions[queue.name] = name } }
        self.broker.observeDeliveries(LiveDeliveryObserver(live: live, functions: consumerFunctions, clock: shared.clock))
        var consumers: [(queue: String, service: any Service)] = []
        for queue in manifest.queues {
            guard let name = queue.consumer?.function, let function = loaded.first(where: { $0.spec.name == name }) else { continue }
            let instance = function.instance
            consumers.append((queue.name, try self.broker.makeConsumer(for: queue.name) { batch in try await instance.queue(batch, env: env) }))
        }
        self.consumers = consumers
        let clock = shared.clock
        let jobs = manifest.crons.compactMap { cron -> CronScheduler.Job? in
            guard let function = loaded.first(where: { $0.spec.name == cron.function }) else { return nil }
            let instance = function.instance
            return CronScheduler.Job(
                schedule: cron.schedule,
                expression: cron.expression,
                id: "\(cron.function) \(cron.schedule)",
                run: live.observing(cron: cron.schedule, function: cron.function, clock: clock) { event in
                    try await instance.scheduled(event, env: env)
                }
            )
        }
        let storage = shared.storage
        let cron = CronScheduler(jobs: jobs, clock: shared.clock, logger: logger) { job, tick in try await storage.claimCronTick(job: job, tick: tick)
        }
        self.cron = cron
        var runScheduled: (@Sendable (String?) async throws -> Int)?
        if shared.testScheduled { runScheduled = { schedule in try await cron.runNow(schedule: schedule) } }
        console = ConsoleEndpoints(manifest: manifest, clock: shared.clock, runScheduled: runScheduled)
    }
}

/// The serving ``Generation``, read with one atomic load per request and replaced by a reload.
final class GenerationSlot: Sendable {
    private let current: Atomic<Unmanaged<Generation>>
    /// Every generation served, kept alive for the life of the server: a request may have loaded
    /// the pointer just before a swap and not yet retained it, so a replaced generation is never
    /// freed (reloads are rare; a retired one's functions are flushed and idle).
    private let all: Mutex<[Generation]>

    init(_ first: Generation) {
        all = Mutex([first])
        current = Atomic(Unmanaged.passUnretained(first))
    }

    /// The serving generation.
    var generation: Generation { current.load(ordering: .acquiring).takeUnretainedValue() }

    /// Every generation served so far, oldest first.
    var every: [Generation] { all.withLock { $0 } }

    /// Serves `next` from now on.
    /// - Returns: the generation it replaced.
    func replace(with next: Generation) -> Generation {
        all.withLock { $0.append(next) }
        return current.exchange(Unmanaged.passUnretained(next), ordering: .acquiringAndReleasing).takeUnretainedValue()
    }
}
