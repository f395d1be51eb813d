import Foundation

/// Dedicated threads for guests, outside Swift's cooperative pool (which has one thread per
/// core: a guest computing there, or blocked in a host call, would stall the server).
///
/// A job runs on an idle thread, or on a new one when none is idle; a thread idle for a minute
/// exits. A runaway guest keeps its thread until its fuel runs out; nothing else waits for it.
final class GuestThreads: @unchecked Sendable {
    // @unchecked: `jobs` and `idle` are only touched with `condition` locked.
    static let shared = GuestThreads()

    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var idle = 0
    /// Native stack of a guest thread (the interpreter keeps wasm frames on its own stack).
    static let stackSize = 4 << 20

    /// Runs `job` on a guest thread.
    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        // More jobs waiting than threads waiting for jobs: start one more.
        let spawn = jobs.count > idle
        condition.signal()
        condition.unlock()
        if spawn {
            let thread = Thread { [self] in self.work() }
            thread.stackSize = Self.stackSize
            thread.name = "edge-wasm"
            thread.start()
        }
    }

    private func work() {
        condition.lock()
        while true {
            if !jobs.isEmpty {
                let job = jobs.removeFirst()
                condition.unlock()
                job()
                condition.lock()
                continue
            }
            idle += 1
            let signalled = condition.wait(until: Date(timeIntervalSinceNow: 60))
            idle -= 1
            if !signalled, jobs.isEmpty {
                condition.unlock()
                return
            }
        }
    }
}
