import EdgeCore
import Synchronization

/// Wakes a sleeping consumer loop: a send to its queue, a finished batch, shutdown.
///
/// A notification that arrives while the loop is not waiting is remembered, so the loop's next
/// wait returns at once and it scans again: nothing is lost between a scan and a wait.
package final class ConsumerSignal: Sendable {
    package init() {}

    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
        var waiterCancelled = false
    }
    private let state = Mutex(State())

    /// Wakes the waiting loop, or the next wait.
    package func notify() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns on a notification, at `deadline` on `clock` (unix seconds), after `recheck` of
    /// real time, or on cancellation.
    ///
    /// `recheck` exists for writes made by another process (the CLI sending to a queue a server
    /// consumes), which no in-process notification announces.
    package func wait(until deadline: Double?, clock: any QueueClock, recheck: Duration?) async {
        if state.withLock({ s -> Bool in
            defer { s.pending = false }
            return s.pending
        }) {
            return
        }
        if deadline == nil && recheck == nil { return await waitForNotification() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForNotification() }
            if let deadline { group.addTask { try? await clock.sleep(until: deadline) } }
            if let recheck { group.addTask { try? await Task.sleep(for: recheck) } }
            await group.next()
            group.cancelAll()
        }
    }

    /// One waiter at a time: the consumer loop.
    private func waitForNotification() async {
        state.withLock { $0.waiterCancelled = false }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.pending || s.waiterCancelled {
                        s.pending = false
                        return true
                    }
                    s.waiter = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                s.waiterCancelled = true
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume()
        }
    }
}
