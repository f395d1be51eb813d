import EdgeStorage
import Foundation
import Hummingbird
import KVStore
import Logging
import NIOCore
import Queues
import ServiceLifecycle
import Synchronization
import UnixSignals

/// How `serve` runs.
public struct ServeOptions: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (tests); ``EdgeServer/run(onReady:)`` reports the bound one.
    public var port = 8787
    /// Where KV and queues live (`--storage`); LMDB in `.edge-data` by default.
    public var storage: StorageLocation = .lmdb(directory: StorageLocation.defaultDirectory)
    /// The LMDB data directory (`--data`, the short form of `storage = .lmdb(directory:)`);
    /// `nil` when the storage is PostgreSQL.
    public var dataDirectory: String? {
        get { if case .lmdb(let directory) = storage { directory } else { nil } }
        set { storage = .lmdb(directory: newValue ?? StorageLocation.defaultDirectory) }
    }
    public var testScheduled = false
    /// The clock for TTLs, queue delays and crons.
    public var clock: any QueueClock = SystemWallClock()
    /// Outbound HTTP; `nil`: a ``CurlFetcher``.
    public var fetcher: (any HTTPFetching)?
    /// Verifiers per auth provider name (the auth module fills this).
    public var authenticators: [String: any RequestAuthenticator] = [:]
    /// Signals that start a graceful shutdown; a second one skips the rest of the grace.
    public var shutdownSignals: [UnixSignal] = [.sigterm, .sigint]
    /// How long a request head may take to arrive (10 s; settable for tests).
    public var headerTimeoutSeconds: Double = 10
    /// The edge-run version (`info.version` of `/_edge/openapi.json`).
    public var version = "dev"
    /// How often an idle `/_edge/tail` stream gets a heartbeat comment (15 s; settable for tests).
    public var tailHeartbeat: Duration = .seconds(15)

    public init() {}
}

/// `edge-run serve`: the runtime of one manifest — HTTP routes, queue consumers, crons, KV
/// sweeping — as one `ServiceGroup` with graceful shutdown.
public final class EdgeServer: Sendable {
    public let manifest: Manifest
    /// The storage every namespace and queue lives in.
    public let storage: any StorageBackend
    public let broker: any QueueBroker
    public let kvStores: [String: any KVStore]
    public let env: Env
    public let metrics: EdgeMetrics
    /// The live event bus: requests, deliveries and cron runs, for `/_edge/tail` and the console.
    public let live = LiveEvents()
    /// The gate of the developer surfaces (`/_edge/tail`, `/_edge/console`).
    public let admin: AdminSurface
    let pipeline: RequestPipeline
    let cron: CronScheduler
    let consumers: [any Service]
    let lifecycles: [any FunctionLifecycle]
    let background: BackgroundWork
    let options: ServeOptions
    let logger: Logger
    let ownedFetcher: CurlFetcher?
    /// `<data>/serve.lock`, held from open to close: one server per data directory (LMDB only).
    let dataLock: DataDirectoryLock?
    private let controller = Mutex<ShutdownController?>(nil)
    private let stopRequested = Mutex(false)

    /// The runtime's own KV namespace (manifest bindings may not start with `__`).
    public static let internalBinding = "__edge"

    /// Locks and opens the data directory and builds every function of `manifest`.
    /// - Throws: ``DataDirectoryInUse`` when another server holds the data directory; storage
    ///   errors, or a function's config error.
    public init(manifest: Manifest, secrets: [String: String], registry: FunctionRegistry, options: ServeOptions, logger: Logger) async throws {
        self.manifest = manifest
        self.options = options
        self.logger = logger
        dataLock = try options.dataDirectory.map { try DataDirectoryLock.acquire(directory: $0) }
        storage = try await options.storage.open(logger: logger)
        var stores: [String: any KVStore] = [:]
        for binding in manifest.kvBindings {
            stores[binding] = try await storage.kvStore(
                binding: binding, limits: KVLimits(minTTLSeconds: manifest.kvMinTTLSeconds), clock: options.clock)
        }
        kvStores = stores
        let queueLogger = Logger(label: "edge-run.queues", factory: { _ in logger.handler })
        broker = try await storage.queueBroker(declaring: manifest.queues, clock: options.clock, reclaimLeases: true, logger: queueLogger)
        let metrics = EdgeMetrics()
        self.metrics = metrics
        let fetcher: any HTTPFetching
        if let given = options.fetcher { fetcher = given; ownedFetcher = nil } else {
            let curl = CurlFetcher()
            fetcher = curl
            ownedFetcher = curl
        }
        let metered = stores.mapValues { MeteredKVStore(base: $0, metrics: metrics) as any KVStore }
        let internalKV = try await storage.kvStore(binding: Self.internalBinding, limits: KVLimits(minTTLSeconds: 1), clock: options.clock)
        env = Env(vars: manifest.vars, secrets: secrets, kvStores: metered, queues: broker, fetcher: fetcher, clock: options.clock,
                  logger: logger, internalKV: internalKV)
        var loaded: [LoadedFunction] = []
        for spec in manifest.functions {
            guard let type = registry.type(for: spec.handler) else { throw FunctionConfigError(nil, "unknown handler \"\(spec.handler)\"") }
            let config = FunctionConfig(functionName: spec.name, values: spec.config, declarations: manifest.declarations, authProvider: spec.auth,
                                        authProviderSettings: spec.auth.flatMap { manifest.authProviders[$0] }, limits: spec.limits)
            loaded.append(LoadedFunction(spec: spec, instance: try type.init(config: config)))
        }
        var routes: [Router.Entry] = []
        for (i, f) in loaded.enumerated() { for r in f.spec.routes { routes.append(Router.Entry(pattern: r, function: i)) } }

        let env = self.env
        let live = self.live
        var consumerFunctions: [String: String] = [:]
        for queue in manifest.queues { if let name = queue.consumer?.function { consumerFunctions[queue.name] = name } }
        broker.observeDeliveries(LiveDeliveryObserver(live: live, functions: consumerFunctions, clock: options.clock))
        var consumers: [any Service] = []
        for queue in manifest.queues {
            guard let name = queue.consumer?.function, let function = loaded.first(where: { $0.spec.name == name }) else { continue }
            let instance = function.instance
            consumers.append(try broker.makeConsumer(for: queue.name) { batch in try await instance.queue(batch, env: env) })
        }
        self.consumers = consumers
        let jobs = manifest.crons.compactMap { cron -> CronScheduler.Job? in
            guard let function = loaded.first(where: { $0.spec.name == cron.function }) else { return nil }
            let instance = function.instance
            return CronScheduler.Job(
                schedule: cron.schedule, expression: cron.expression,
                run: live.observing(cron: cron.schedule, function: cron.function, clock: options.clock) { event in try await instance.scheduled(event, env: env) })
        }
        let cron = CronScheduler(jobs: jobs, clock: options.clock, logger: logger)
        self.cron = cron
        let runScheduled: (@Sendable (String?) async throws -> Int)?
        if options.testScheduled {
            runScheduled = { schedule in try await cron.runNow(schedule: schedule) }
        } else {
            runScheduled = nil
        }
        let background = BackgroundWork()
        self.background = background
        // One JWT verifier per declared provider (tests may substitute their own).
        var authenticators = options.authenticators
        for (name, settings) in manifest.authProviders where authenticators[name] == nil {
            let config = try AuthProviderConfig(json: settings)
            authenticators[name] = JWTAuthenticator(name: name, config: config, fetcher: fetcher, kv: internalKV, clock: options.clock)
        }
        let admin = AdminSurface(manifest: manifest, host: options.host)
        self.admin = admin
        var pipeline = RequestPipeline(
            router: Router(routes), functions: loaded, env: env, metrics: metrics, authenticators: authenticators,
            background: background, runaway: RunawayHandlers(metrics: metrics),
            bodyReadTimeoutSeconds: manifest.serverLimits.bodyReadTimeoutSeconds, logger: logger, runScheduled: runScheduled,
            openAPIDocument: OpenAPIDocument.data(manifest: manifest, registry: registry,
                                                  options: .init(testScheduled: options.testScheduled, version: options.version)),
            storageMetrics: { [storage] in storage.metrics() }, live: live, admin: admin)
        pipeline.tailHeartbeat = options.tailHeartbeat
        pipeline.resolveRouteMetrics()
        pipeline.console = ConsoleEndpoints(manifest: manifest, clock: options.clock, runScheduled: runScheduled)
        // Handlers with buffers (analytics) are flushed periodically and on shutdown; the first
        // sink per provider takes the analytics middleware's events.
        lifecycles = loaded.compactMap { $0.instance as? any FunctionLifecycle }
        for f in loaded {
            guard let sink = f.instance as? any RequestAnalyticsSink, pipeline.analyticsSinks[sink.analyticsProvider] == nil else { continue }
            pipeline.analyticsSinks[sink.analyticsProvider] = sink
        }
        for (i, f) in loaded.enumerated() {
            if let provider = f.spec.analytics, pipeline.analyticsSinks[provider] == nil {
                let handler = provider == "mixpanel" ? "mixpanel.track" : "posthog.capture"
                throw FunctionConfigError(nil, "functions[\(i)].analytics: \"\(provider)\" needs a function with handler \"\(handler)\"")
            }
        }
        self.pipeline = pipeline
    }

    /// Serves until a shutdown signal or ``shutdown()``; then stops accepting, gives in-flight
    /// requests and batches `limits.shutdown_grace_seconds` (a second signal ends that at once),
    /// answers what is left 503 and cancels it, awaits `waitUntil` work within what is left of
    /// the grace, flushes, and closes the data directory.
    /// - Parameter onReady: called with the bound port once the server accepts connections.
    public func run(onReady: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let pipeline = self.pipeline
        let responder = CallbackResponder<EdgeRequestContext> { request, context in await pipeline.respond(to: request, context: context) }
        let logger = self.logger
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .notice)
        let host = options.host
        let name = manifest.name
        let announce: @Sendable (any Channel) async -> Void = { channel in
            let port = channel.localAddress?.port ?? 0
            logger.notice("edge-run serving", metadata: ["host": "\(host)", "port": "\(port)", "manifest": "\(name)"])
            onReady(port)
        }
        let limits = manifest.serverLimits
        let timeouts = ConnectionTimeouts(header: .seconds(options.headerTimeoutSeconds), body: .seconds(limits.bodyReadTimeoutSeconds),
                                          idle: .seconds(limits.idleTimeoutSeconds))
        let connections = ConnectionLimiter(maximum: limits.maxConnections)
        let configuration = ApplicationConfiguration(address: .hostname(options.host, port: options.port), serverName: "edge-run")
        let app: Application<CallbackResponder<EdgeRequestContext>> = Application(
            responder: responder, server: .edgeHTTP1(timeouts: timeouts, limiter: connections), configuration: configuration,
            onServerRunning: announce, logger: quiet)
        var services = storage.maintenanceServices(logger: logger)
        services.append(contentsOf: consumers)
        // Stopped after the HTTP app and cron (reverse order), before consumers and the data directory.
        if !lifecycles.isEmpty { services.append(FunctionFlusher(functions: lifecycles, env: env, logger: logger)) }
        services.append(cron)
        services.append(app)
        // Signals are the controller's (a second one must end the grace), not the group's.
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [], logger: quiet))
        let running = Task { try await group.run() }
        let controller = ShutdownController(
            grace: .seconds(limits.shutdownGraceSeconds),
            beginDrain: { [live] in
                // Live streams end first: an open tail must not hold the grace.
                live.close()
                await group.triggerGracefulShutdown()
            },
            expireNow: {
                logger.notice("shutdown grace over: answering what is left 503 and cancelling")
                pipeline.inFlight.abortAll()
                // Let those 503s go out (connections close once answered), then cut the rest.
                let cutoff = ContinuousClock.now + .seconds(1)
                while connections.count > 0, ContinuousClock.now < cutoff { try? await Task.sleep(for: .milliseconds(10)) }
                running.cancel()
            })
        let stopEarly = self.controller.withLock { c -> Bool in
            c = controller
            return stopRequested.withLock { $0 }
        }
        let signals = Task { await controller.watch(options.shutdownSignals) }
        if stopEarly { await controller.requestStop() }
        defer { self.controller.withLock { $0 = nil } }
        let outcome = await withTaskCancellationHandler { await controller.servicesEnded(running) } onCancel: { running.cancel() }
        await controller.waitWithinGrace { [background] in background.pending == 0 }
        await finish()
        // Still trapped while flushing and closing, so a late second signal cannot kill the process.
        signals.cancel()
        if case .failure(let error) = outcome {
            guard controller.stage != .running else { throw error }
            // Once a shutdown was requested, services ending by cancellation is the plan, not a failure.
            if !(error is CancellationError) { logger.warning("a service failed during shutdown", metadata: ["error": "\(error)"]) }
        }
    }

    private func finish() async {
        if background.pending > 0 { logger.warning("waitUntil work still running at shutdown", metadata: ["count": "\(background.pending)"]) }
        for function in lifecycles { await function.flush(env: env) }
        ownedFetcher?.shutdown()
        await storage.close()
        dataLock?.release()
        logger.notice("edge-run stopped")
    }

    /// Starts a graceful shutdown (as SIGTERM does).
    /// A second call ends the grace at once (as a second signal does).
    public func shutdown() async {
        let controller = self.controller.withLock { c -> ShutdownController? in
            stopRequested.withLock { $0 = true }
            return c
        }
        await controller?.requestStop()
    }
}
