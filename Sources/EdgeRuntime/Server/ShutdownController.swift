import Synchronization
import UnixSignals

/// The shutdown policy of `serve` (`limits.shutdown_grace_seconds`): the first SIGTERM/SIGINT
/// (or ``EdgeServer/shutdown()``) stops accepting and lets in-flight requests and batches
/// finish; when the grace runs out — or at once on a second signal — what is left is expired:
/// requests still in a handler are answered 503 and the services are cancelled (a cancelled
/// consumer retries its unsettled messages). The caller then flushes and closes the data directory.
final class ShutdownController: Sendable {
    enum Stage: Equatable, Sendable {
        case running
        /// Graceful shutdown started; the grace ends at `deadline`.
        case draining(deadline: ContinuousClock.Instant)
        case expired
    }

    private struct State {
        var stage = Stage.running
        var graceTask: Task<Void, Never>?
    }

    private let state = Mutex(State())
    private let grace: Duration
    private let beginDrain: @Sendable () async -> Void
    private let expireNow: @Sendable () async -> Void

    /// - Parameters:
    ///   - grace: how long a graceful shutdown may take.
    ///   - beginDrain: starts the graceful shutdown (the service group's).
    ///   - expireNow: answers what is left and cancels the services.
    init(grace: Duration, beginDrain: @escaping @Sendable () async -> Void, expireNow: @escaping @Sendable () async -> Void) {
        self.grace = grace
        self.beginDrain = beginDrain
        self.expireNow = expireNow
    }

    var stage: Stage { state.withLock { $0.stage } }

    /// A shutdown signal or request: the first drains (and arms the grace timer), any later one expires now.
    func requestStop() async {
        let first = state.withLock { s -> Bool in
            guard s.stage == .running else { return false }
            s.stage = .draining(deadline: .now + grace)
            return true
        }
        guard first else { return await expire() }
        let timer = Task { [self] in
            do { try await Task.sleep(for: self.grace) } catch { return }
            await expire()
        }
        state.withLock { $0.graceTask = timer }
        await beginDrain()
    }

    /// Ends the grace now (idempotent).
    func expire() async {
        let now = state.withLock { s -> Bool in
            guard s.stage != .expired else { return false }
            s.stage = .expired
            return true
        }
        if now { await expireNow() }
    }

    /// The services ended: the grace timer is no longer needed.
    func servicesEnded() {
        state.withLock { $0.graceTask }?.cancel()
    }

    /// Waits until `isDone` holds, polling, at most until the grace ends (or a second signal
    /// expires it); used for `waitUntil` work after the services stopped.
    func waitWithinGrace(until isDone: @Sendable () -> Bool) async {
        while !isDone() {
            switch stage {
            case .running: break
            case .expired: return
            case .draining(let deadline): if ContinuousClock.now >= deadline { return }
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Turns each of `signals` into ``requestStop()`` until cancelled.
    func watch(_ signals: [UnixSignal]) async {
        guard !signals.isEmpty else { return }
        for await _ in await UnixSignalsSequence(trapping: signals) {
            await requestStop()
        }
    }
}
