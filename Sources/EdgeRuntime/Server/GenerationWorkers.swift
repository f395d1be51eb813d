import Foundation
import Logging
import Queues
import ServiceLifecycle
import Synchronization

/// Runs the serving generation's queue consumers, cron scheduler and flusher, and hands them
/// over to the next generation on a reload without losing or repeating a delivery: a queue's
/// old consumer stops taking batches and settles the ones it claimed before the new one starts;
/// the old cron stops before the new one starts; the old functions are flushed once their last
/// request has answered.
final class GenerationWorkers: Service, Sendable {
    private struct Running: Sendable {
        var cron: Task<Void, Never>?
        var flusher: Flusher?
        var consumers: [String: (consumer: any Service, task: Task<Void, Never>)] = [:]
    }

    /// A generation's flusher: ``stop()`` ends its periodic flushes and flushes once more, in a
    /// task that is not cancelled (a flush in a cancelled task cannot send, only spill).
    private struct Flusher: Sendable {
        let task: Task<Void, Never>
        let stopping: AsyncStream<Void>.Continuation

        init(_ flusher: FunctionFlusher) {
            let (stream, stopping) = AsyncStream<Void>.makeStream()
            self.stopping = stopping
            task = Task.detached {
                let periodic = Task { await flusher.periodic() }
                for await _ in stream {}
                periodic.cancel()
                await periodic.value
                await flusher.flushAll()
            }
        }

        func stop() async {
            stopping.finish()
            await task.value
        }
    }

    private struct State: Sendable {
        var running = Running()
        /// Old generations being retired (their flushers wait for their last request).
        var retiring: [Task<Void, Never>] = []
        var stopping = false
    }

    private let slot: GenerationSlot
    private let logger: Logger
    private let state = Mutex(State())

    init(slot: GenerationSlot, logger: Logger) {
        self.slot = slot
        self.logger = logger
    }

    /// Whether a graceful shutdown has begun (a reload is then refused).
    var isStopping: Bool { state.withLock { $0.stopping } }

    func run() async throws {
        let first = slot.generation
        state.withLock { s in
            s.running.cron = Self.start(first.cron)
            s.running.flusher = flusher(for: first)
            for (queue, consumer) in first.consumers { s.running.consumers[queue] = (consumer, Self.start(consumer)) }
        }
        // Cancellation (the shutdown grace ran out) also reaches a stop already waiting for batches.
        await withTaskCancellationHandler {
            try? await gracefulShutdown()
            await stopAll()
        } onCancel: {
            self.cancelAll()
        }
    }

    /// Hands the workers of `old` over to `next` (already serving requests), then retires `old`
    /// in the background once its requests have answered.
    /// - Returns: `false` when a shutdown began first (nothing was changed).
    func handOver(from old: Generation, to next: Generation) async -> Bool {
        guard let running = state.withLock({ s -> Running? in s.stopping ? nil : s.running }) else { return false }
        // Cron: the old one stops before the new one starts, so no fire time runs twice.
        running.cron?.cancel()
        await running.cron?.value
        let queues = Set(running.consumers.keys).union(next.consumers.map(\.queue))
        await withTaskGroup(of: Void.self) { group in
            for queue in queues {
                let old = running.consumers[queue]
                let new = next.consumers.first { $0.queue == queue }?.service
                group.addTask {
                    if let old { await Self.stop(old.consumer, old.task) }
                    self.state.withLock { s in
                        s.running.consumers[queue] = nil
                        if let new, !s.stopping { s.running.consumers[queue] = (new, Self.start(new)) }
                    }
                }
            }
        }
        state.withLock { s in
            if !s.stopping { s.running.cron = Self.start(next.cron) }
            s.running.flusher = s.stopping ? nil : flusher(for: next)
            let oldFlusher = running.flusher
            s.retiring.append(Task { await self.retire(old, flusher: oldFlusher) })
        }
        return true
    }

    /// Waits until no request runs on `old` any more, then ends its flusher (which flushes once more).
    private func retire(_ old: Generation, flusher: Flusher?) async {
        // A request that loaded the old generation just before the swap counts itself a moment later.
        try? await Task.sleep(for: .milliseconds(50))
        while old.requests.load(ordering: .acquiring) > 0, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
        await flusher?.stop()
        logger.debug("retired manifest generation", metadata: ["generation": "\(old.number)"])
    }

    private func flusher(for generation: Generation) -> Flusher? {
        guard !generation.lifecycles.isEmpty else { return nil }
        return Flusher(FunctionFlusher(functions: generation.lifecycles, env: generation.env, logger: logger))
    }

    /// Runs `service` in a task of its own. Detached: it must not inherit the graceful shutdown
    /// of whichever service started a reload; this one stops it explicitly (``stopAll()``).
    private static func start(_ service: some Service) -> Task<Void, Never> {
        Task.detached { try? await service.run() }
    }

    /// Graceful shutdown: cron first, then the consumers (settling their batches), then the flushers.
    private func stopAll() async {
        let (running, retiring) = state.withLock { s in
            s.stopping = true
            return (s.running, s.retiring)
        }
        running.cron?.cancel()
        await running.cron?.value
        await withTaskGroup(of: Void.self) { group in
            for (consumer, task) in running.consumers.values { group.addTask { await Self.stop(consumer, task) } }
        }
        await running.flusher?.stop()
        for task in retiring { await task.value }
    }

    /// Stops a consumer the way that loses and repeats nothing: it takes no more batches and
    /// settles the ones it claimed. One that cannot be told to stop is cancelled (its unsettled
    /// messages are retried, as past the shutdown grace).
    private static func stop(_ consumer: any Service, _ task: Task<Void, Never>) async {
        if let stoppable = consumer as? any StoppableConsumer { stoppable.stop() } else { task.cancel() }
        await task.value
    }

    private func cancelAll() {
        let running = state.withLock { s in
            s.stopping = true
            return s.running
        }
        running.cron?.cancel()
        running.flusher?.task.cancel()
        for (_, task) in running.consumers.values { task.cancel() }
        for task in state.withLock({ $0.retiring }) { task.cancel() }
    }
}
