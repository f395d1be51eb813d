import Synchronization

/// Runs `operation`, giving up after `seconds`: the caller gets ``TimeoutError`` at the
/// deadline even if the operation ignores cancellation (it is cancelled and left to finish).
func withDeadline<T: Sendable>(seconds: Double, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = DeadlineRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            race.begin(continuation, seconds: seconds, operation)
        }
    } onCancel: {
        race.cancel()
    }
}

/// The two racers of ``withDeadline(seconds:_:)``: whichever finishes first resumes the caller.
private final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var work: Task<Void, Never>?
        var timer: Task<Void, Never>?
    }
    private let state = Mutex(State())

    func begin(_ continuation: CheckedContinuation<T, any Error>, seconds: Double, _ operation: @escaping @Sendable () async throws -> T) {
        state.withLock { $0.continuation = continuation }
        let work = Task {
            let result: Result<T, any Error>
            do { result = .success(try await operation()) } catch { result = .failure(error) }
            self.finish(result)
        }
        let timer = Task {
            guard (try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))) != nil else { return }
            self.finish(.failure(TimeoutError()))
        }
        let alreadyDone = state.withLock { s -> Bool in
            s.work = work
            s.timer = timer
            return s.continuation == nil
        }
        // The operation may have finished before the tasks were recorded: stop the timer now.
        if alreadyDone { timer.cancel() }
    }

    private func finish(_ result: Result<T, any Error>) {
        let (continuation, work, timer) = state.withLock { s in
            defer { s.continuation = nil }
            return (s.continuation, s.work, s.timer)
        }
        guard let continuation else { return }
        continuation.resume(with: result)
        work?.cancel()
        timer?.cancel()
    }

    func cancel() { finish(.failure(CancellationError())) }
}

/// A handler ran past its `handler_timeout_seconds`.
struct TimeoutError: Error {}
