import CoreMetrics
import EdgeStorage
import Foundation
import Prometheus
import Queues
import Synchronization

/// The runtime's metrics: swift-metrics types backed by one swift-prometheus registry per
/// runtime (not the process-global `MetricsSystem`, so several runtimes can live in one
/// process, as tests do). `GET /_edge/metrics` renders the registry.
public final class EdgeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    /// Cached metric handles, keyed without building strings on the hot path.
    private struct RequestKey: Hashable {
        let route: String
        let method: String
        let status: Int
    }
    private struct RouteKey: Hashable {
        let route: String
        let method: String
    }
    private struct KVKey: Hashable {
        let binding: String
        let operation: String
    }
    private let requestCounters = Mutex<[RequestKey: CoreMetrics.Counter]>([:])
    private let timers = Mutex<[RouteKey: CoreMetrics.Timer]>([:])
    private let kvCounters = Mutex<[KVKey: CoreMetrics.Counter]>([:])

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
        ]
        self.factory = factory
    }

    /// Counts one answered request and its latency.
    public func recordRequest(route: String, method: String, status: Int, nanoseconds: Int64) {
        let (counter, timer) = requestHandles(route: route, method: method, status: status)
        counter.increment()
        timer.recordNanoseconds(nanoseconds)
    }

    /// The request counter and latency timer of a route, method and status (created once, then cached).
    func requestHandles(route: String, method: String, status: Int) -> (CoreMetrics.Counter, CoreMetrics.Timer) {
        let key = RequestKey(route: route, method: method, status: status)
        let counter = requestCounters.withLock { cache in
            if let c = cache[key] { return c }
            let c = CoreMetrics.Counter(
                label: "edge_requests_total",
                dimensions: [("route", route), ("method", method), ("status", String(status))],
                factory: factory
            )
            cache[key] = c
            return c
        }
        let timerKey = RouteKey(route: route, method: method)
        let timer = timers.withLock { cache in
            if let t = cache[timerKey] { return t }
            let t = CoreMetrics.Timer(label: "edge_request_duration_seconds", dimensions: [("route", route), ("method", method)], factory: factory)
            cache[timerKey] = t
            return t
        }
        return (counter, timer)
    }

    /// The request metrics of one route and method, to record requests without hashing strings.
    /// The pipeline resolves one per route at start-up; the Prometheus series themselves are
    /// created on the route's first request (an unused route exports nothing, as before).
    public func route(_ route: String, method: String) -> RouteRequestMetrics {
        RouteRequestMetrics(route: route, method: method, owner: self)
    }

    /// Counts one KV operation (`get`, `put`, `delete`, `list`, …) on `binding`.
    public func recordKV(binding: String, operation: String) {
        let key = KVKey(binding: binding, operation: operation)
        let counter = kvCounters.withLock { cache in
            if let c = cache[key] { return c }
            let c = CoreMetrics.Counter(label: "edge_kv_operations_total", dimensions: [("binding", binding), ("op", operation)], factory: factory)
            cache[key] = c
            return c
        }
        counter.increment()
    }

    /// Sets `edge_runaway_handlers{function}`: handlers answered 504 and still running.
    public func setRunawayHandlers(function: String, count: Int) {
        registry.makeGauge(name: "edge_runaway_handlers", labels: [("function", function)]).set(Double(count))
    }

    /// The Prometheus text exposition: the registry's series (requests, latency, KV operations,
    /// runaway handlers), then the series read now: queue counts, the process (`/proc`) and the
    /// storage's own gauges (LMDB map usage).
    /// - Parameters:
    ///   - queues: fresh queue stats (`nil`: storage unavailable, the queue series are left out).
    ///   - storage: the storage backend's gauges.
    public func render(queues: [QueueStats]? = nil, storage: [StorageMetric] = []) -> String {
        var out = PrometheusText()
        if let queues { Self.writeQueues(queues, to: &out) }
        ProcessMetrics.read().write(to: &out)
        for metric in storage { out.family(metric.name, .gauge, help: metric.help, metric.value) }
        return registry.emitToString() + out.text
    }

    /// Queue gauges (now) and counters (over the queue's life; stored with the queue, so they
    /// survive restarts).
    static func writeQueues(_ stats: [QueueStats], to out: inout PrometheusText) {
        func samples(_ value: (QueueStats) -> Int) -> [(labels: [(String, String)], value: Double)] {
            stats.map { (labels: [("queue", $0.name)], value: Double(value($0))) }
        }
        out.family("edge_queue_pending", .gauge, help: "Messages waiting for delivery now.", samples(\.pending))
        out.family("edge_queue_delayed", .gauge, help: "Messages whose delivery or retry delay has not passed.", samples(\.delayed))
        out.family("edge_queue_in_flight", .gauge, help: "Messages handed to a consumer and not yet settled.", samples(\.inFlight))
        out.family(
            "edge_queue_dead_letter_store",
            .gauge,
            help: "Messages in the queue's built-in dead-letter store now.",
            samples(\.deadLetterStore)
        )
        out.family("edge_queue_delivered_total", .counter, help: "Messages delivered and acked.", samples(\.delivered))
        out.family("edge_queue_retried_total", .counter, help: "Failed deliveries that led to another.", samples(\.retried))
        out.family("edge_queue_dead_lettered_total", .counter, help: "Messages this queue dead-lettered.", samples(\.deadLettered))
        out.family("edge_queue_expired_total", .counter, help: "Messages deleted after outliving the queue's retention.", samples(\.expired))
    }
}

/// `edge_requests_total` and `edge_request_duration_seconds` of one route and method, resolved
/// once: recording a request takes one uncontended lock and a scan of the statuses seen so far
/// (one to three in practice), instead of two dictionary lookups keyed by strings.
public final class RouteRequestMetrics: Sendable {
    public let route: String
    public let method: String
    private let owner: EdgeMetrics
    private struct State {
        var timer: CoreMetrics.Timer?
        var counters: [(status: Int, counter: CoreMetrics.Counter)] = []
    }
    private let state = Mutex(State())

    init(route: String, method: String, owner: EdgeMetrics) {
        self.route = route
        self.method = method
        self.owner = owner
    }

    /// Counts one answered request and its latency (the same series as ``EdgeMetrics/recordRequest(route:method:status:nanoseconds:)``).
    public func record(status: Int, nanoseconds: Int64) {
        let handles = state.withLock { s -> (CoreMetrics.Counter, CoreMetrics.Timer)? in
            guard let timer = s.timer, let counter = s.counters.first(where: { $0.status == status })?.counter else { return nil }
            return (counter, timer)
        }
        if let (counter, timer) = handles {
            counter.increment()
            timer.recordNanoseconds(nanoseconds)
            return
        }
        // First request of this route with this status: the shared caches create (or find) the series.
        let (counter, timer) = owner.requestHandles(route: route, method: method, status: status)
        state.withLock { s in
            s.timer = timer
            if !s.counters.contains(where: { $0.status == status }) { s.counters.append((status, counter)) }
        }
        counter.increment()
        timer.recordNanoseconds(nanoseconds)
    }
}
