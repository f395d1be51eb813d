import EdgeCore
import Foundation
import KVStore
import Logging
import Queues
import ServiceLifecycle

/// Fires the manifest's crons at their UTC times: sleeps (on the injectable clock) until the
/// earliest next fire time, then runs every cron due then. A run that fails is logged; the
/// schedule goes on. Before a run, the tick is claimed in the storage: with several nodes on one
/// PostgreSQL, exactly one node wins each tick.
public struct CronScheduler: Service {
    /// One cron entry bound to its function.
    public struct Job: Sendable {
        public let schedule: String
        public let expression: CronExpression
        /// Names the entry across nodes (its function and schedule) when its ticks are claimed.
        public let id: String
        public let run: @Sendable (ScheduledEvent) async throws -> Void

        public init(
            schedule: String,
            expression: CronExpression,
            id: String? = nil,
            run: @escaping @Sendable (ScheduledEvent) async throws -> Void
        ) {
            self.schedule = schedule
            self.expression = expression
            self.id = id ?? schedule
            self.run = run
        }
    }

    let jobs: [Job]
    let clock: any QueueClock
    let logger: Logger
    let claim: @Sendable (_ job: String, _ tick: Int64) async throws -> Bool

    /// - Parameter claim: whether this node runs `job` at unix second `tick` (once per tick
    ///   across the nodes sharing a storage); by default every tick is this node's.
    public init(
        jobs: [Job],
        clock: any QueueClock,
        logger: Logger,
        claim: @escaping @Sendable (_ job: String, _ tick: Int64) async throws -> Bool = { _, _ in true }
    ) {
        self.jobs = jobs
        self.clock = clock
        self.logger = logger
        self.claim = claim
    }

    public func run() async throws {
        guard !jobs.isEmpty else {
            // Nothing to schedule: stay up until shutdown (a service that returns early ends the group).
            try? await gracefulShutdown()
            return
        }
        try? await cancelWhenGracefulShutdown {
            var after = Int64(clock.now().rounded(.down))
            while !Task.isCancelled {
                let upcoming = jobs.compactMap { job in job.expression.next(afterUnixSeconds: after).map { (job, $0) } }
                guard let next = upcoming.map(\.1).min() else { return }
                try await clock.sleep(until: Double(next))
                await withTaskGroup(of: Void.self) { group in
                    for (job, time) in upcoming where time == next {
                        group.addTask { await fire(job, at: Double(time)) }
                    }
                }
                after = next
            }
        }
    }

    /// Runs `job` for the fire time `time` when this node claims the tick, logging a failure.
    func fire(_ job: Job, at time: Double) async {
        do {
            guard try await claim(job.id, Int64(time)) else {
                logger.debug("cron tick run by another node", metadata: ["cron": "\(job.schedule)"])
                return
            }
        } catch {
            logger.error("cannot claim the cron tick; skipped", metadata: ["cron": "\(job.schedule)", "error": "\(error)"])
            return
        }
        do {
            try await job.run(ScheduledEvent(cron: job.schedule, scheduledTime: time))
        } catch {
            logger.error("scheduled run failed", metadata: ["cron": "\(job.schedule)", "error": "\(error)"])
        }
    }

    /// Runs now every job with `schedule` (all when `nil`) and waits for them (`/__scheduled`).
    /// - Returns: how many ran.
    public func runNow(schedule: String?) async throws -> Int {
        let selected = jobs.filter { schedule == nil || $0.schedule == schedule || normalized($0.schedule) == normalized(schedule!) }
        let now = clock.now()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for job in selected { group.addTask { try await job.run(ScheduledEvent(cron: job.schedule, scheduledTime: now)) } }
            try await group.waitForAll()
        }
        return selected.count
    }

    private func normalized(_ s: String) -> String { s.split(whereSeparator: { $0 == " " || $0 == "+" }).joined(separator: " ") }
}
