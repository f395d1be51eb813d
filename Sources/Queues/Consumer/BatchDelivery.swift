import EdgeCore
import Foundation
import Logging

/// One message handed to a handler, as a backend's claim read it.
package struct ClaimedMessage: Sendable {
    package var id: String
    package var sentMillis: Int64
    package var body: MessageBody
    /// Deliveries by this queue, this one included.
    package var attempts: Int

    package init(id: String, sentMillis: Int64, body: MessageBody, attempts: Int) {
        self.id = id
        self.sentMillis = sentMillis
        self.body = body
        self.attempts = attempts
    }
}

/// A claimed batch after its handler ran: how each message is to be settled, and what to report.
package struct BatchResult: Sendable {
    package let queue: String
    package let messages: [Message]
    /// Each message's settlement, in order.
    package let dispositions: [Disposition]
    /// What the handler threw, or why the batch was cut (deadline, shutdown).
    package let handlerError: String?
    /// When the outcome was decided (unix ms): retry delays count from here.
    package let settledAtMillis: Int64
    let ran: Duration

    /// The live-tail report of the batch.
    package var report: DeliveryReport {
        let items = zip(messages, dispositions).map { DeliveryReport.Item(id: $0.id, attempts: $0.attempts, disposition: $1) }
        let ms = Double(ran.components.seconds) * 1000 + Double(ran.components.attoseconds) / 1e15
        return DeliveryReport(queue: queue, messages: items, handlerError: handlerError, durationMs: ms)
    }
}

extension BatchRun {
    /// Runs `handler` on a claimed batch under the consumer's deadline (`timeout_seconds` after
    /// `claimedAt`), calls `handlerFinished` as soon as the handler is over, and decides each
    /// message's settlement from its ack/retry calls and the handler's outcome. Every backend's
    /// consumer runs its batches through this, between its claim and its settle.
    package static func deliver(
        _ handler: @escaping QueueHandler,
        queue: String,
        claimed: [ClaimedMessage],
        settings: ConsumerConfig,
        claimedAt now: Int64,
        clock: any QueueClock,
        logger: Logger,
        handlerFinished: () -> Void
    ) async -> BatchResult {
        let board = DecisionBoard(count: claimed.count)
        let messages = claimed.enumerated().map { index, item in
            Message(
                id: item.id,
                timestamp: Date(timeIntervalSince1970: Double(item.sentMillis) / 1000),
                body: item.body,
                attempts: item.attempts,
                board: board,
                index: index
            )
        }
        let batch = MessageBatch(queue: queue, messages: messages, board: board)
        let deadline = Double(now) / 1000 + Double(settings.timeoutSeconds)
        let started = ContinuousClock.now
        let end = await run(handler, batch, until: deadline, clock: clock)
        let ran = ContinuousClock.now - started
        let handlerError: String?
        switch end {
        case .returned: handlerError = nil
        case .threw(let error): handlerError = error
        case .timedOut:
            handlerError = "consumer.timeout_seconds (\(settings.timeoutSeconds) s) passed: the batch was cancelled"
            logger.error("batch cancelled at the consumer's deadline", metadata: ["timeout_seconds": "\(settings.timeoutSeconds)"])
        case .cancelled: handlerError = QueueConsumer.interruptedByCancellation
        }
        handlerFinished()
        let settledAt = clock.nowMillis()
        let dispositions = zip(messages, board.snapshot).map { message, decision in
            Settlement.disposition(decision: decision, handlerError: handlerError, attempts: message.attempts, config: settings, nowMillis: settledAt)
        }
        return BatchResult(
            queue: queue,
            messages: messages,
            dispositions: dispositions,
            handlerError: handlerError,
            settledAtMillis: settledAt,
            ran: ran
        )
    }
}
