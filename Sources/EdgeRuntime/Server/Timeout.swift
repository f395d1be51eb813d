import Dispatch
import Synchronization

/// Runs `operation`, giving up after `seconds`: the caller gets ``TimeoutError`` at the
/// deadline even if the operation ignores cancellation (it is cancelled and left to finish).
///
/// The operation runs in its own task; deadlines are watched by one shared ticker
/// (``DeadlineWatch``) instead of a timer task per call.
func withDeadline<T: Sendable>(
    seconds: Double, watch: DeadlineWatch, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = DeadlineRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            race.begin(continuation, seconds: seconds, watch: watch, operation)
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The operation of ``withDeadline(seconds:watch:_:)`` racing its deadline: whichever comes
/// first resumes the caller; the other is ignored.
private final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var work: Task<Void, Never>?
        var watchID: UInt64?
        var watch: DeadlineWatch?
    }
    private let state = Mutex(State())

    func begin(_ continuation: CheckedContinuation<T, any Error>, seconds: Double, watch: DeadlineWatch,
               _ operation: @escaping @Sendable () async throws -> T) {
        state.withLock { $0.continuation = continuation; $0.watch = watch }
        let id = watch.register(after: seconds) { [self] in self.finish(.failure(TimeoutError())) }
        let work = Task {
            let result: Result<T, any Error>
            do { result = .success(try await operation()) } catch { result = .failure(error) }
            self.finish(result)
        }
        let finished = state.withLock { s -> Bool in
            s.work = work
            s.watchID = id
            return s.continuation == nil
        }
        if finished { watch.remove(id) }
    }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, work, id, watch) = state.withLock { s in
            defer { s.continuation = nil; s.watchID = nil }
            return (s.continuation, s.work, s.watchID, s.watch)
        }
        guard let continuation else { return }
        if let id { watch?.remove(id) }
        continuation.resume(with: result)
        if case .failure = result { work?.cancel() }
    }
}

/// A handler ran past its `handler_timeout_seconds`.
struct TimeoutError: Error {}

/// Watches the deadlines of in-flight calls with one ticker task that runs only while there
/// are deadlines, waking every `resolution`.
final class DeadlineWatch: Sendable {
    private struct State {
        var entries: [UInt64: (deadline: UInt64, fire: @Sendable () -> Void)] = [:]
        var nextID: UInt64 = 0
        var ticking = false
    }
    private let state = Mutex(State())
    private let resolution: Duration

    init(resolution: Duration = .milliseconds(20)) { self.resolution = resolution }

    /// Calls `fire` about `seconds` from now unless ``remove(_:)`` comes first.
    func register(after seconds: Double, fire: @escaping @Sendable () -> Void) -> UInt64 {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, seconds) * 1e9)
        let (id, start) = state.withLock { s -> (UInt64, Bool) in
            s.nextID += 1
            s.entries[s.nextID] = (deadline, fire)
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
            let (due, keepGoing) = state.withLock { s -> ([@Sendable () -> Void], Bool) in
                let expired = s.entries.filter { $0.value.deadline <= now }
                for key in expired.keys { s.entries.removeValue(forKey: key) }
                if s.entries.isEmpty { s.ticking = false }
                return (expired.values.map(\.fire), !s.entries.isEmpty)
            }
            for fire in due { fire() }
            if !keepGoing { return }
        }
    }
}
