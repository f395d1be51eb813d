import EdgeCore
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
    /// Reads the manifest and secrets again for a reload (`serve` sets it); `nil`: only
    /// ``EdgeServer/reload(manifest:secrets:)`` reloads.
    public var reloadSource: (@Sendable () throws -> (Manifest, [String: String]))?
    /// Signals that reload from ``reloadSource`` (SIGHUP).
    public var reloadSignals: [UnixSignal] = [.sighup]
    /// Files polled for changes (`serve --watch`: the manifest and env file); a change, once the
    /// file has stayed the same for one more interval, reloads from ``reloadSource``.
    public var watchPaths: [String] = []
    /// How often ``watchPaths`` are polled.
    public var watchIntervalSeconds: Double = 0.5
    /// The edge-run version (`info.version` of `/_edge/openapi.json`).
    public var version = "dev"
    /// How often an idle `/_edge/tail` stream gets a heartbeat comment (15 s; settable for tests).
    public var tailHeartbeat: Duration = .seconds(15)

    public init() {}
}

/// `edge-run serve`: the runtime of one manifest — HTTP routes, queue consumers, crons, KV
/// sweeping — as one `ServiceGroup` with graceful shutdown. What the manifest and secrets
/// decide is one ``Generation``, which ``reload(manifest:secrets:)`` replaces while serving.
public final class EdgeServer: Sendable {
    /// The serving manifest (the latest one a reload accepted).
    public var manifest: Manifest { generations.generation.manifest }
    /// The storage every namespace and queue lives in.
    public let storage: any StorageBackend
    /// The serving generation's broker (a reload declares its queues again in the same storage).
    public var broker: any QueueBroker { generations.generation.broker }
    /// The serving generation's KV bindings.
    public var kvStores: [String: any KVStore] { generations.generation.kvStores }
    /// The serving generation's `env`.
    public var env: Env { generations.generation.env }
    public let metrics: EdgeMetrics
    /// The live event bus: requests, deliveries and cron runs, for `/_edge/tail` and the console.
    public let live = LiveEvents()
    /// The gate of the developer surfaces (`/_edge/tail`, `/_edge/console`) of the serving manifest.
    public var admin: AdminSurface { generations.generation.admin }
    let generations: GenerationSlot
    let shared: Generation.Shared
    let pipeline: RequestPipeline
    let workers: GenerationWorkers
    let reloads = ReloadSequence()
    /// The server-wide limits in force (a reload cannot change them).
    let serverLimits: ServerLimits
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
        self.options = options
        self.logger = logger
        dataLock = try options.dataDirectory.map { try DataDirectoryLock.acquire(directory: $0) }
        storage = try await options.storage.open(poolSize: manifest.serverLimits.storagePoolSize, logger: logger)
        let metrics = EdgeMetrics()
        self.metrics = metrics
        let fetcher: any HTTPFetching
        if let given = options.fetcher {
            fetcher = given
            ownedFetcher = nil
        } else {
            let curl = CurlFetcher()
            fetcher = curl
            ownedFetcher = curl
        }
        let internalKV = try await storage.kvStore(binding: Self.internalBinding, limits: KVLimits(minTTLSeconds: 1), clock: options.clock)
        shared = Generation.Shared(
            storage: storage,
            internalKV: internalKV,
            fetcher: fetcher,
            clock: options.clock,
            metrics: metrics,
            authenticators: options.authenticators,
            registry: registry,
            live: live,
            host: options.host,
            testScheduled: options.testScheduled,
            version: options.version,
            logger: logger
        )
        let first = try await Generation(number: 1, manifest: manifest, secrets: secrets, shared: shared, previous: nil)
        generations = GenerationSlot(first)
        serverLimits = manifest.serverLimits
        workers = GenerationWorkers(slot: generations, logger: logger)
        let background = BackgroundWork()
        self.background = background
        var pipeline = RequestPipeline(
            generations: generations,
            metrics: metrics,
            background: background,
            runaway: RunawayHandlers(metrics: metrics),
            bodyReadTimeoutSeconds: manifest.serverLimits.bodyReadTimeoutSeconds,
            logger: logger,
            testScheduled: options.testScheduled,
            storageMetrics: { [storage] in storage.metrics() },
            live: live
        )
        pipeline.tailHeartbeat = options.tailHeartbeat
        pipeline.storageProblem = { [storage] in await storage.checkHealth() }
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
        let name = generations.generation.manifest.name
        let announce: @Sendable (any Channel) async -> Void = { channel in
            let port = channel.localAddress?.port ?? 0
            logger.notice("edge-run serving", metadata: ["host": "\(host)", "port": "\(port)", "manifest": "\(name)"])
            onReady(port)
        }
        let limits = serverLimits
        let timeouts = ConnectionTimeouts(
            header: .seconds(options.headerTimeoutSeconds),
            body: .seconds(limits.bodyReadTimeoutSeconds),
            idle: .seconds(limits.idleTimeoutSeconds)
        )
        let connections = ConnectionLimiter(maximum: limits.maxConnections)
        let configuration = ApplicationConfiguration(address: .hostname(options.host, port: options.port), serverName: "edge-run")
        let app: Application<CallbackResponder<EdgeRequestContext>> = Application(
            responder: responder,
            server: .edgeHTTP1(timeouts: timeouts, limiter: connections),
            configuration: configuration,
            onServerRunning: announce,
            logger: quiet
        )
        // KV sweeps, retention and lease checks of whatever the serving generation opened.
        var services = storage.maintenanceServices(logger: logger)
        // Stopped after the HTTP app (reverse order): cron, consumers, flushers, before the data directory.
        services.append(workers)
        if let source = options.reloadSource {
            services.append(
                ReloadTriggers(
                    signals: options.reloadSignals,
                    watching: options.watchPaths,
                    interval: options.watchIntervalSeconds,
                    logger: logger
                ) { [weak self] in await self?.reload(from: source) }
            )
        }
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
            }
        )
        let stopEarly = self.controller.withLock { c -> Bool in
            c = controller
            return stopRequested.withLock { $0 }
        }
        let signals = Task { await controller.watch(options.shutdownSignals) }
        if stopEarly { await controller.requestStop() }
        defer { self.controller.withLock { $0 = nil } }
        let outcome = await withTaskCancellationHandler {
            await controller.servicesEnded(running)
        } onCancel: {
            running.cancel()
        }
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
        for generation in generations.every { for function in generation.lifecycles { await function.flush(env: generation.env) } }
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
