import Foundation
import Synchronization

/// The wall clock TTLs, tokens and circuit breakers are measured against, injectable so tests
/// move time instead of sleeping.
public protocol WallClock: Sendable {
    /// Seconds since 1970-01-01T00:00:00Z.
    func now() -> Double
}

extension WallClock {
    /// Whole unix seconds now (floored).
    public func nowSeconds() -> Int64 { Int64(now().rounded(.down)) }
}

/// A wall clock that can also be slept on: queues measure delays, batch timeouts and retention
/// against it, crons wait for their next tick on it.
public protocol QueueClock: WallClock {
    /// Suspends until `now()` has reached `deadline` (unix seconds).
    /// - Throws: `CancellationError` when the task is cancelled first.
    func sleep(until deadline: Double) async throws
}

extension QueueClock {
    /// Unix milliseconds now (floored).
    package func nowMillis() -> Int64 { Int64((now() * 1000).rounded(.down)) }
}

/// The system's real-time clock.
public struct SystemWallClock: QueueClock {
    public init() {}

    public func now() -> Double { Date().timeIntervalSince1970 }

    public func sleep(until deadline: Double) async throws {
        while true {
            let remaining = deadline - now()
            if remaining <= 0 { return }
            try await Task.sleep(for: .microseconds(Int64((remaining * 1_000_000).rounded(.up))))
        }
    }
}

/// A clock that moves only when told to; sleepers wake when it passes their deadline. The one
/// manual clock of tests and benchmarks, for KV, tokens, queues and crons alike.
public final class ManualClock: QueueClock {
    private struct Sleeper {
        let deadline: Double
        let continuation: CheckedContinuation<Void, any Error>
    }
    private struct State {
        var now: Double
        var nextID: UInt64 = 0
        var sleepers: [UInt64: Sleeper] = [:]
        var cancelled: Set<UInt64> = []
    }
    private let state: Mutex<State>

    public init(_ start: Double = 1_800_000_000) { state = Mutex(State(now: start)) }

    public func now() -> Double { state.withLock { $0.now } }

    /// Moves the clock forward by `seconds`, waking the sleepers it passes.
    public func advance(by seconds: Double) { move { $0 += seconds } }

    /// Sets the clock to `time` (unix seconds), waking the sleepers it passes.
    public func set(_ time: Double) { move { $0 = time } }

    /// The deadlines of the tasks sleeping now, earliest first (tests wait for a consumer to sleep).
    public var sleepingUntil: [Double] { state.withLock { $0.sleepers.values.map(\.deadline).sorted() } }

    public func sleep(until deadline: Double) async throws {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { s -> Result<Void, any Error>? in
                    if s.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if s.now >= deadline { return .success(()) }
                    s.sleepers[id] = Sleeper(deadline: deadline, continuation: c)
                    return nil
                }
                if let outcome { c.resume(with: outcome) }
            }
        } onCancel: {
            let sleeper = state.withLock { s -> Sleeper? in
                if let sleeper = s.sleepers.removeValue(forKey: id) { return sleeper }
                s.cancelled.insert(id)
                return nil
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
        state.withLock { _ = $0.cancelled.remove(id) }
    }

    private func move(_ change: (inout Double) -> Void) {
        let due = state.withLock { s -> [Sleeper] in
            change(&s.now)
            let now = s.now
            let ids = s.sleepers.filter { $0.value.deadline <= now }.map(\.key)
            return ids.compactMap { s.sleepers.removeValue(forKey: $0) }
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}
