import Foundation
import WasmKit

/// Dedicated threads for guests, outside Swift's cooperative pool (which has one thread per
/// core: a guest computing there, or blocked in a host call, would stall the server).
///
/// A job runs on an idle thread, or on a new one when none is idle; a thread idle for a minute
/// exits. A runaway guest keeps its thread until its fuel runs out; nothing else waits for it.
final class GuestThreads: @unchecked Sendable {
    // @unchecked: `jobs` and `idle` are only touched with `condition` locked.
    static let shared = GuestThreads()

    typealias Job = @Sendable (GuestThread) -> Void

    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var idle = 0
    /// Native stack of a guest thread (the interpreter keeps wasm frames on its own stack).
    static let stackSize = 4 << 20

    /// Runs `job` on a guest thread, which hands it its ``GuestThread``.
    func submit(_ job: @escaping Job) {
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
        let thread = GuestThread()
        condition.lock()
        while true {
            if !jobs.isEmpty {
                let job = jobs.removeFirst()
                condition.unlock()
                job(thread)
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

/// What one guest thread keeps between the invocations it runs: its own WasmKit engines and
/// interpreter stack. Never shared between threads.
///
/// Engines of its own because WasmKit's engine interns function types behind one lock that the
/// translator takes for every `call` it translates: with one engine for all guest threads,
/// translating wasi-libc under load spent most of its time waiting for that lock. The stack is
/// reused because allocating its 512 KiB for every invocation costs more than running a small
/// guest; the interpreter initialises a frame's slots before the guest can read them, so
/// nothing of a previous invocation is visible through it.
final class GuestThread {
    private let reservedMemory = Engine(configuration: GuestEngine.configuration)
    private lazy var smallMemory = Engine(configuration: GuestEngine.smallMemoryConfiguration)
    var stack: ExecutionStack

    init() { stack = ExecutionStack(engine: reservedMemory) }

    /// The engine for a function whose memory limit is at most
    /// ``GuestEngine/softwareMemoryLimit`` (`smallMemory`), or for any other.
    func engine(smallMemory small: Bool) -> Engine { small ? smallMemory : reservedMemory }
}
