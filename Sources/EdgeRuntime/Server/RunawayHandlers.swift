import CoreMetrics
import Synchronization

/// Handlers answered 504 that are still running, per function: the gauge
/// `edge_runaway_handlers{function}`, and the count `limits.max_runaway` is checked against.
final class RunawayHandlers: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    /// The sum of `counts`, kept beside it: while it is 0 (the usual case) a request's check
    /// is one atomic load instead of a lock and a string-keyed lookup.
    private let total = Atomic<Int>(0)
    private let metrics: EdgeMetrics

    init(metrics: EdgeMetrics) { self.metrics = metrics }

    /// How many of `function`'s handlers are running past their deadline now.
    func count(_ function: String) -> Int {
        if total.load(ordering: .acquiring) == 0 { return 0 }
        return counts.withLock { $0[function] ?? 0 }
    }

    /// The counter of one function, handed to the call it watches.
    func slot(_ function: String) -> Slot { Slot(owner: self, function: function) }

    struct Slot: Sendable {
        let owner: RunawayHandlers
        let function: String
        /// The caller was answered 504; the handler goes on running.
        func began() { owner.change(function, by: 1) }
        /// The handler of an earlier 504 returned at last.
        func ended() { owner.change(function, by: -1) }
    }

    private func change(_ function: String, by delta: Int) {
        let now = counts.withLock { c -> Int in
            let before = c[function] ?? 0
            let n = max(0, before + delta)
            c[function] = n
            total.add(n - before, ordering: .releasing)
            return n
        }
        metrics.setRunawayHandlers(function: function, count: now)
    }
}

/// The handler calls in flight, so that the end of the shutdown grace can answer every one of
/// them at once (503) instead of leaving its client waiting.
final class InFlightCalls: Sendable {
    private struct State {
        var calls: [UInt64: any DeadlineTarget] = [:]
        var nextID: UInt64 = 0
        var aborted = false
    }
    private let state = Mutex(State())

    /// Remembers `call` until ``remove(_:)``; after ``abortAll()`` it is told at once.
    func register(_ call: any DeadlineTarget) -> UInt64 {
        let (id, abortNow) = state.withLock { s -> (UInt64, Bool) in
            s.nextID += 1
            if !s.aborted { s.calls[s.nextID] = call }
            return (s.nextID, s.aborted)
        }
        if abortNow { call.serverStopping() }
        return id
    }

    func remove(_ id: UInt64) { _ = state.withLock { $0.calls.removeValue(forKey: id) } }

    /// Answers every call in flight, and every later one, with its abort.
    func abortAll() {
        let calls = state.withLock { s -> [any DeadlineTarget] in
            s.aborted = true
            defer { s.calls = [:] }
            return Array(s.calls.values)
        }
        for call in calls { call.serverStopping() }
    }

    var count: Int { state.withLock { $0.calls.count } }
}
