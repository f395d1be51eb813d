import Dispatch
import Synchronization

/// Runs `operation`, giving up after `seconds`: the caller gets ``TimeoutError`` at the
/// deadline even if the operation ignores cancellation (it is cancelled and left to finish).
///
/// The operation runs in its own task; deadlines are watched by one shared ticker
/// (``DeadlineWatch``) instead of a timer task per call.
/// - Parameters:
///   - runaway: told when the caller got ``TimeoutError`` while the operation still runs, and
///     again when that operation finally returns.
///   - stopping: ``InFlightCalls/abortAll()`` there answers the caller ``ServerStoppingError`` at once.
func withDeadline<T: Sendable>(
    seconds: Double,
    watch: DeadlineWatch,
    runaway: RunawayHandlers.Slot? = nil,
    stopping: InFlightCalls? = nil,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = DeadlineRace<T>(runaway: runaway)
    return try await withTaskCancellationHandler {
        // Unchecked: the race resumes it once, whichever of the work, the deadline, the stop or
        // the cancellation comes first (`finish` takes it out under the lock).
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<T, any Error>) in
            race.begin(continuation, seconds: seconds, watch: watch, stopping: stopping, operation)
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The operation of ``withDeadline(seconds:watch:runaway:stopping:_:)`` racing its deadline:
/// whichever comes first resumes the caller; the other is ignored.
private final class DeadlineRace<T: Sendable>: DeadlineTarget {
    private struct State {
        var continuation: UnsafeContinuation<T, any Error>?
        var work: Task<Void, Never>?
        var watchID: UInt64?
        var watch: DeadlineWatch?
        var stoppingID: UInt64?
        var stopping: InFlightCalls?
        /// The operation returned (its result may not have been delivered yet).
        var workDone = false
        /// The caller was answered ``TimeoutError`` while the operation still ran.
        var overran = false
    }
    private let state = Mutex(State())
    private let runaway: RunawayHandlers.Slot?

    init(runaway: RunawayHandlers.Slot?) { self.runaway = runaway }

    func begin(
        _ continuation: UnsafeContinuation<T, any Error>,
        seconds: Double,
        watch: DeadlineWatch,
        stopping: InFlightCalls?,
        _ operation: @escaping @Sendable () async throws -> T
    ) {
        state.withLock {
            $0.continuation = continuation
            $0.watch = watch
            $0.stopping = stopping
        }
        let id = watch.register(after: seconds, self)
        let stopID = stopping?.register(self)
        if state.withLock({ $0.continuation == nil }) {
            // Answered already (the server is past its shutdown grace): the operation never starts.
            watch.remove(id)
            if let stopID { stopping?.remove(stopID) }
            return
        }
        let work = Task {
            let result: Result<T, any Error>
            do { result = .success(try await operation()) } catch { result = .failure(error) }
            let overran = self.state.withLock { s -> Bool in
                s.workDone = true
                return s.overran
            }
            self.finish(result)
            if overran { self.runaway?.ended() }
        }
        let finished = state.withLock { s -> Bool in
            s.work = work
            s.watchID = id
            s.stoppingID = stopID
            return s.continuation == nil
        }
        if finished {
            watch.remove(id)
            if let stopID { stopping?.remove(stopID) }
        }
    }

    func deadlinePassed() { finish(.failure(TimeoutError())) }

    func serverStopping() { finish(.failure(ServerStoppingError())) }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, work, id, watch, stopID, stopping) = state.withLock { s in
            defer {
                s.continuation = nil
                s.watchID = nil
                s.stoppingID = nil
            }
            if s.continuation != nil, !s.workDone, case .failure(let error) = result, error is TimeoutError {
                // Counted under the lock so that the operation's end (which reads `overran`
                // under it too) can never be counted before its start.
                s.overran = true
                runaway?.began()
            }
            return (s.continuation, s.work, s.watchID, s.watch, s.stoppingID, s.stopping)
        }
        guard let continuation else { return }
        if let id { watch?.remove(id) }
        if let stopID { stopping?.remove(stopID) }
        continuation.resume(with: result)
        if case .failure = result { work?.cancel() }
    }
}

/// A call waiting on its deadline (``DeadlineWatch``) and on the server's shutdown grace
/// (``InFlightCalls``); registered as itself, so a registration allocates no closure.
protocol DeadlineTarget: AnyObject, Sendable {
    /// Its deadline passed.
    func deadlinePassed()
    /// The shutdown grace ended.
    func serverStopping()
}

/// A handler ran past its `handler_timeout_seconds`.
struct TimeoutError: Error {}

/// The shutdown grace ran out while a handler was still running (answered 503).
struct ServerStoppingError: Error {}

/// Watches the deadlines of in-flight calls with one ticker task that runs only while there
/// are deadlines, waking every `resolution`.
final class DeadlineWatch: Sendable {
    private struct State {
        var entries: [UInt64: (deadline: UInt64, target: any DeadlineTarget)] = [:]
        var nextID: UInt64 = 0
        var ticking = false
    }
    private let state = Mutex(State())
    private let resolution: Duration

    init(resolution: Duration = .milliseconds(20)) { self.resolution = resolution }

    /// Tells `target` about `seconds` from now unless ``remove(_:)`` comes first.
    func register(after seconds: Double, _ target: any DeadlineTarget) -> UInt64 {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, seconds) * 1e9)
        let (id, start) = state.withLock { s -> (UInt64, Bool) in
            s.nextID += 1
            s.entries[s.nextID] = (deadline, target)
            let start = !s.ticking
            s.ticking = true
            return (s.nextID, start)
        }
        if start { Task { await self.tick() } }
        return id
    }

    func remove(_ id: UInt64) { _ = state.withLock { $0.entries.removeValue(forKey: id) } }

    private func tick() async {
        while true {
            try? await Task.sleep(for: resolution)
            let now = DispatchTime.now().uptimeNanoseconds
            let (due, keepGoing) = state.withLock { s -> ([any DeadlineTarget], Bool) in
                let expired = s.entries.filter { $0.value.deadline <= now }
                for key in expired.keys { s.entries.removeValue(forKey: key) }
                if s.entries.isEmpty { s.ticking = false }
                return (expired.values.map(\.target), !s.entries.isEmpty)
            }
            for target in due { target.deadlinePassed() }
            if !keepGoing { return }
        }
    }
}
