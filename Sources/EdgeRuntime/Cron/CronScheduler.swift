import Foundation
import KVStore
import Logging
import Queues
import ServiceLifecycle

/// Fires the manifest's crons at their UTC times: sleeps (on the injectable clock) until the
/// earliest next fire time, then runs every cron due then. A run that fails is logged; the
/// schedule goes on.
public struct CronScheduler: Service {
    /// One cron entry bound to its function.
    public struct Job: Sendable {
        public let schedule: String
        public let expression: CronExpression
        public let run: @Sendable (ScheduledEvent) async throws -> Void

        public init(schedule: String, expression: CronExpression, run: @escaping @Sendable (ScheduledEvent) async throws -> Void) {
            self.schedule = schedule
            self.expression = expression
            self.run = run
        }
    }

    let jobs: [Job]
    let clock: any QueueClock
    let logger: Logger

    public init(jobs: [Job], clock: any QueueClock, logger: Logger) {
        self.jobs = jobs
        self.clock = clock
        self.logger = logger
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

    /// Runs `job` for the fire time `time`, logging a failure.
    func fire(_ job: Job, at time: Double) async {
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
