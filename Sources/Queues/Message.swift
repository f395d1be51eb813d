import Foundation
import Synchronization

/// What a consumer said about one message of its batch.
enum MessageDecision: Sendable, Equatable {
    case ack
    case retry(delaySeconds: Int?, reason: String?)
    case deadLetter(reason: String)
}

/// The decisions of one batch: the first call on a message wins.
final class DecisionBoard: Sendable {
    private let decisions: Mutex<[MessageDecision?]>

    init(count: Int) { decisions = Mutex(Array(repeating: nil, count: count)) }

    func decide(_ index: Int, _ decision: MessageDecision) {
        decisions.withLock { if $0[index] == nil { $0[index] = decision } }
    }

    func decideAll(_ decision: MessageDecision) {
        decisions.withLock { all in
            for i in all.indices where all[i] == nil { all[i] = decision }
        }
    }

    var snapshot: [MessageDecision?] { decisions.withLock { $0 } }
}

/// One delivered message.
///
/// The first of `ack()`, `retry(delaySeconds:)` and `deadLetter(reason:)` called on a message
/// decides its fate (later calls, and later batch-level calls, are ignored). Without a call, a
/// message is acked when the handler returns and retried when it throws.
public struct Message: Sendable {
    /// Unique, sortable by send time: 32 lowercase hex digits.
    public let id: String
    /// When the message was sent.
    public let timestamp: Date
    public let body: MessageBody
    /// Deliveries of this message by this queue, this one included: 1 on the first delivery.
    public let attempts: Int
    let board: DecisionBoard
    let index: Int

    /// Marks the message as processed: it is not delivered again, even if the handler throws.
    public func ack() { board.decide(index, .ack) }

    /// Asks for the message to be delivered again, after `delaySeconds` (clamped to 0…86400)
    /// or else the queue's `retry_delay`. After its last allowed delivery it is dead-lettered.
    /// - Parameter reason: what failed; stored as the message's `last_error` (shown by peek and
    ///   kept in the dead-letter queue). Without one: the handler's error, if it threw, else
    ///   `retry requested by the consumer`.
    public func retry(delaySeconds: Int? = nil, reason: String? = nil) {
        board.decide(index, .retry(delaySeconds: delaySeconds.map(clampedDelay), reason: reason))
    }

    /// Sends the message to the dead-letter queue now, when retrying cannot help.
    public func deadLetter(reason: String) { board.decide(index, .deadLetter(reason: reason)) }
}

/// The batch a consumer handler receives.
public struct MessageBatch: Sendable {
    /// The queue the messages come from.
    public let queue: String
    /// The messages, oldest due first.
    public let messages: [Message]
    let board: DecisionBoard

    /// Acks every message that has no decision yet.
    public func ackAll() { board.decideAll(.ack) }

    /// Retries every message that has no decision yet (see ``Message/retry(delaySeconds:reason:)``).
    public func retryAll(delaySeconds: Int? = nil, reason: String? = nil) {
        board.decideAll(.retry(delaySeconds: delaySeconds.map(clampedDelay), reason: reason))
    }
}

/// A retry delay from a consumer, clamped to 0…86400.
private func clampedDelay(_ seconds: Int) -> Int {
    min(max(seconds, 0), QueueLimits.maxDelaySeconds)
}
