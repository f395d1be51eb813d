import EdgeRuntime
import Foundation
import KVStore
import Logging
import Queues
import Synchronization

/// A bounded, concurrency-safe event buffer in front of one provider endpoint.
///
/// Events are appended under a lock; once `flushAt` are buffered a send starts in the
/// background (at most ``maxInFlight`` at a time, each taking up to `maxBatch` events, so a
/// backlog is sent in fewer, larger calls). A failed send spills its batch to the analytics
/// queue. Past ``maxBuffered`` events (the provider is slow or down) the oldest are spilled
/// to the queue at once instead of growing memory. ``flush(env:)`` sends everything and waits.
final class AnalyticsBatcher: Sendable {
    let kind: AnalyticsKind
    let flushAt: Int
    let maxBatch: Int
    let queue: String?
    let maxInFlight = 2
    let maxBuffered: Int
    let usage: UsageTracker?

    private struct State {
        var events: [JSONValue] = []
        var inFlight = 0
        var tasks: [UInt64: Task<Void, Never>] = [:]
        var nextID: UInt64 = 0
        /// After a retryable failure (429 with its `Retry-After`, else 5 s): no sends until then (uptime ns).
        var pausedUntil: UInt64 = 0
    }

    /// The back-off after a retryable failure without `Retry-After`.
    static let defaultPauseSeconds = 5

    private static func uptime() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// When a pause of `retryAfter` seconds (clamped to 0…86400; `nil`: the default 5 s)
    /// that starts at uptime `now` (ns) ends; saturates instead of trapping.
    static func pauseEnd(now: UInt64, retryAfter: Int?) -> UInt64 {
        let seconds = CheckedInteger.clamp(retryAfter ?? defaultPauseSeconds, to: 0...Int(RetryAfter.maxSeconds))
        let (nanos, o1) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        let (end, o2) = now.addingReportingOverflow(nanos)
        return o1 || o2 ? .max : end
    }

    /// Whether sends are held back after a provider failure.
    var isPaused: Bool { state.withLock { $0.pausedUntil > Self.uptime() } }
    private let state = Mutex(State())

    init(kind: AnalyticsKind, flushAt: Int, maxBatch: Int, queue: String?, maxBuffered: Int = 10_000, usage: UsageTracker? = nil) {
        self.usage = usage
        self.kind = kind
        self.flushAt = flushAt
        self.maxBatch = max(maxBatch, flushAt)
        self.queue = queue
        self.maxBuffered = maxBuffered
    }

    /// How many events wait in memory.
    var buffered: Int { state.withLock { $0.events.count } }

    /// Buffers `events`; spills the oldest to the queue when the buffer is over its bound.
    func add(_ events: [JSONValue], env: Env) async {
        let overflow = append(events)
        if !overflow.isEmpty { await spill(batches: overflow, reason: "analytics buffer full", env: env) }
        pump(env: env)
    }

    /// Buffers `events` without waiting (the analytics middleware); an overflow spill runs in the background.
    func record(_ events: [JSONValue], env: Env) {
        let overflow = append(events)
        if !overflow.isEmpty {
            track { [self] in await self.spill(batches: overflow, reason: "analytics buffer full", env: env) }
        }
        pump(env: env)
    }

    private func append(_ events: [JSONValue]) -> [[JSONValue]] {
        state.withLock { s in
            s.events.append(contentsOf: events)
            guard s.events.count > maxBuffered else { return [] }
            // Spill a tenth of the bound at once (in provider-sized batches), not one event per
            // call: each spill is a durable LMDB commit.
            let n = min(s.events.count, s.events.count - maxBuffered + maxBuffered / 10)
            let oldest = s.events.prefix(n)
            s.events.removeFirst(n)
            return stride(from: oldest.startIndex, to: oldest.endIndex, by: maxBatch).map { Array(oldest[$0..<min($0 + maxBatch, oldest.endIndex)]) }
        }
    }

    /// Starts sends while `flushAt` events wait and fewer than ``maxInFlight`` run.
    private func pump(env: Env) {
        state.withLock { s in
            while s.inFlight < maxInFlight && s.events.count >= flushAt {
                let batch = Array(s.events.prefix(maxBatch))
                s.events.removeFirst(batch.count)
                s.inFlight += 1
                let id = s.nextID
                s.nextID += 1
                s.tasks[id] = Task { [self] in
                    await self.deliver(batch, env: env)
                    self.state.withLock { s in
                        s.inFlight -= 1
                        s.tasks.removeValue(forKey: id)
                    }
                    self.pump(env: env)
                }
            }
        }
    }

    private func track(_ work: @escaping @Sendable () async -> Void) {
        state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            s.tasks[id] = Task { [self] in
                await work()
                _ = self.state.withLock { $0.tasks.removeValue(forKey: id) }
            }
        }
    }

    /// Sends everything buffered, then waits for every send and spill in flight.
    func flush(env: Env) async {
        while true {
            let batch = state.withLock { s -> [JSONValue] in
                let b = Array(s.events.prefix(maxBatch))
                s.events.removeFirst(b.count)
                return b
            }
            if batch.isEmpty { break }
            await deliver(batch, env: env)
        }
        while true {
            let tasks = state.withLock { Array($0.tasks.values) }
            if tasks.isEmpty { return }
            for task in tasks { await task.value }
        }
    }

    /// Sends one batch; a retryable failure spills it to the queue, a rejection is logged.
    func deliver(_ batch: [JSONValue], env: Env) async {
        if isPaused {
            // The provider asked us to back off (or just failed): straight to the queue, whose consumer retries later.
            await spill(batch, reason: "provider backing off", env: env)
            return
        }
        switch await AnalyticsPayloads.send(kind: kind, items: batch, env: env) {
        case .sent:
            await usage?.record(service: kind.usage.service, operation: kind.usage.operation, count: batch.count, env: env)
        case .retry(let reason, let retryAfter):
            let until = Self.pauseEnd(now: Self.uptime(), retryAfter: retryAfter)
            state.withLock { $0.pausedUntil = max($0.pausedUntil, until) }
            await spill(batch, reason: reason, env: env)
        case .reject(let reason):
            env.logger.error(
                "analytics batch rejected, not retried",
                metadata: [
                    "kind": "\(kind.rawValue)", "events": "\(batch.count)", "error": "\(reason)",
                ]
            )
        }
    }

    /// Writes `batch` durably to the analytics queue (split so each message stays under 128 KB).
    func spill(_ batch: [JSONValue], reason: String, env: Env) async {
        guard let queue else {
            env.logger.error(
                "analytics batch lost: no analytics queue configured",
                metadata: [
                    "kind": "\(kind.rawValue)", "events": "\(batch.count)", "error": "\(reason)",
                ]
            )
            return
        }
        await Self.enqueue(SpilledBatch(kind: kind, items: batch, error: reason), queue: queue, env: env)
    }

    /// Writes several batches in as few commits as the queue's batch limits allow.
    func spill(batches: [[JSONValue]], reason: String, env: Env) async {
        guard let queue else {
            for batch in batches { await spill(batch, reason: reason, env: env) }
            return
        }
        var pending: [OutgoingMessage] = []
        var bytes = 0
        for batch in batches {
            guard let body = try? JSONEncoder().encode(SpilledBatch(kind: kind, items: batch, error: reason)), body.count <= 120_000 else {
                await spill(batch, reason: reason, env: env)
                continue
            }
            if pending.count == 100 || bytes + body.count > 250_000 {
                await Self.sendBatch(pending, queue: queue, env: env)
                pending = []
                bytes = 0
            }
            pending.append(OutgoingMessage(body: body, contentType: .json))
            bytes += body.count
        }
        if !pending.isEmpty { await Self.sendBatch(pending, queue: queue, env: env) }
    }

    private static func sendBatch(_ messages: [OutgoingMessage], queue: String, env: Env) async {
        do { _ = try await env.queue(queue).sendBatch(messages) } catch {
            env.logger.error("analytics batches lost: could not enqueue them", metadata: ["messages": "\(messages.count)", "error": "\(error)"])
        }
    }

    static func enqueue(_ spilled: SpilledBatch, queue: String, env: Env) async {
        do {
            let body = try JSONEncoder().encode(spilled)
            if body.count > 120_000 && spilled.items.count > 1 {
                let half = spilled.items.count / 2
                await enqueue(SpilledBatch(kind: spilled.kind, items: Array(spilled.items[..<half]), error: spilled.error), queue: queue, env: env)
                await enqueue(SpilledBatch(kind: spilled.kind, items: Array(spilled.items[half...]), error: spilled.error), queue: queue, env: env)
                return
            }
            _ = try await env.queue(queue).send(body: body, contentType: .json)
        } catch {
            env.logger.error(
                "analytics batch lost: could not enqueue it",
                metadata: [
                    "kind": "\(spilled.kind.rawValue)", "events": "\(spilled.items.count)", "error": "\(error)",
                ]
            )
        }
    }
}
