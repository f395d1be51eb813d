import EdgeCore
import Foundation
import KVStore
import Queues

/// Publishes the queue consumers' settled batches as `delivery` events.
struct LiveDeliveryObserver: DeliveryObserver {
    let live: LiveEvents
    /// The consumer function of each queue.
    let functions: [String: String]
    let clock: any QueueClock

    var wantsDeliveries: Bool { live.isObserved }

    func delivered(_ report: DeliveryReport) {
        live.publish { .delivery(report, function: functions[report.queue], time: clock.now()) }
    }
}

extension LiveEvents {
    /// `run` (a cron's scheduled handler) publishing one `scheduled` event per call, with its
    /// outcome and duration; errors are rethrown.
    func observing(
        cron schedule: String,
        function: String,
        clock: any QueueClock,
        _ run: @escaping @Sendable (ScheduledEvent) async throws -> Void
    ) -> @Sendable (ScheduledEvent) async throws -> Void {
        { [self] event in
            let started = ContinuousClock.now
            var failure: String?
            defer {
                let elapsed = ContinuousClock.now - started
                let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
                publish {
                    .scheduled(
                        cron: schedule,
                        function: function,
                        scheduledTime: event.scheduledTime,
                        error: failure,
                        durationMs: ms,
                        time: clock.now()
                    )
                }
            }
            do { try await run(event) } catch {
                failure = String(describing: error)
                throw error
            }
        }
    }
}
