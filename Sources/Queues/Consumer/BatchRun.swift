import EdgeCore
import Synchronization

/// How a batch's handler ended.
enum BatchEnd: Sendable, Equatable {
    /// It returned.
    case returned
    /// It threw this error (described).
    case threw(String)
    /// The consumer's deadline passed first; the handler's task was cancelled.
    case timedOut
    /// The consumer's own task was cancelled first; the handler's task was cancelled.
    case cancelled
}

/// Runs a handler under a deadline without waiting for a handler that ignores cancellation: the
/// handler runs in its own task, and whichever comes first — its end, the deadline, the caller's
/// cancellation — decides. On a deadline or cancellation the handler's task is cancelled and
/// left to finish on its own (its later decisions are not read).
package enum BatchRun {
    static func run(_ handler: @escaping QueueHandler, _ batch: MessageBatch, until deadline: Double, clock: any QueueClock) async -> BatchEnd {
        let first = FirstOutcome()
        let work = Task {
            do {
                try await handler(batch)
                first.resolve(.returned)
            } catch {
                first.resolve(.threw(String(describing: error)))
            }
        }
        let timer = Task {
            do {
                try await clock.sleep(until: deadline)
                first.resolve(.timedOut)
            } catch {}  // cancelled: the batch ended first
        }
        let end = await withTaskCancellationHandler {
            await first.value()
        } onCancel: {
            first.resolve(.cancelled)
        }
        timer.cancel()
        if end == .timedOut || end == .cancelled { work.cancel() }
        return end
    }
}

/// The first of several outcomes, awaited by one waiter.
final class FirstOutcome: Sendable {
    private struct State {
        var value: BatchEnd?
        var waiter: CheckedContinuation<BatchEnd, Never>?
    }
    private let state = Mutex(State())

    /// Sets the outcome unless one was set; wakes the waiter.
    func resolve(_ end: BatchEnd) {
        let waiter = state.withLock { s -> CheckedContinuation<BatchEnd, Never>? in
            guard s.value == nil else { return nil }
            s.value = end
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: end)
    }

    func value() async -> BatchEnd {
        await withCheckedContinuation { c in
            let ready = state.withLock { s -> BatchEnd? in
                if let value = s.value { return value }
                s.waiter = c
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }
}

/// Failures injected into a broker's consumers (tests: a settle commit that fails), and the
/// settle backoff (tests shorten it).
final class ConsumerFaults: Sendable {
    private let failingSettles = Mutex(0)
    private let backoff = Mutex(Duration.milliseconds(100))

    /// The first wait after a failed settle commit (doubling, at most 5 s).
    var settleBackoff: Duration {
        get { backoff.withLock { $0 } }
        set { backoff.withLock { $0 = newValue } }
    }

    /// Makes the next `count` settle attempts fail before they reach the storage.
    func failNextSettles(_ count: Int) { failingSettles.withLock { $0 = count } }

    /// Settle attempts still to fail.
    var pendingSettleFailures: Int { failingSettles.withLock { $0 } }

    func beforeSettle() throws {
        let fail = failingSettles.withLock { n -> Bool in
            guard n > 0 else { return false }
            n -= 1
            return true
        }
        if fail { throw InjectedFault() }
    }

    struct InjectedFault: Error, CustomStringConvertible {
        var description: String { "injected settle failure" }
    }
}
