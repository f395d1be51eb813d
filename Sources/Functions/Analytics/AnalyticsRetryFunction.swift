import EdgeRuntime
import Foundation
import Logging
import Queues

/// `analytics.retry`: the analytics queue's consumer. Re-sends each spilled batch unchanged
/// (the events keep their `$insert_id` / `uuid`, so the provider deduplicates); a retryable
/// failure is retried after the provider's `Retry-After`, else `30 s × 2^(attempts−1)` (at most
/// an hour); a rejection (400 and other 4xx) is dead-lettered at once.
public struct AnalyticsRetryFunction: EdgeFunction {
    public static let kinds: FunctionKinds = .queue

    let usage: UsageTracker?

    public init(config: FunctionConfig) throws {
        usage = try UsageTracker.from(config)
    }

    public func queue(_ batch: MessageBatch, env: Env) async throws {
        for message in batch.messages {
            guard let spilled = try? message.body.decode(SpilledBatch.self) else {
                message.deadLetter(reason: "not an analytics batch")
                continue
            }
            switch await AnalyticsPayloads.send(kind: spilled.kind, items: spilled.items, env: env) {
            case .sent:
                message.ack()
                await usage?.record(
                    service: spilled.kind.usage.service,
                    operation: spilled.kind.usage.operation,
                    count: spilled.items.count,
                    env: env
                )
            case .retry(let reason, let retryAfter):
                env.logger.warning(
                    "analytics batch failed again",
                    metadata: ["kind": "\(spilled.kind.rawValue)", "attempts": "\(message.attempts)", "error": "\(reason)"]
                )
                message.retry(delaySeconds: retryAfter ?? Self.backoff(attempts: message.attempts), reason: reason)
            case .reject(let reason):
                message.deadLetter(reason: reason)
            }
        }
    }

    /// `30 s × 2^(attempts−1)`, at most 3600 s.
    static func backoff(attempts: Int) -> Int { min(30 << min(max(attempts - 1, 0), 10), 3600) }
}
