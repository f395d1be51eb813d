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
        /// The caller of ``servicesEnded(_:)`` and, once known, how the services ended.
        var waiter: CheckedContinuation<Result<Void, any Error>, Never>?
        var outcome: Result<Void, any Error>?
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

    /// Ends the grace now (idempotent). A service that ignores its cancellation still cannot
    /// hold the process: `backstop` later the services count as ended.
    func expire() async {
        let now = state.withLock { s -> Bool in
            guard s.stage != .expired else { return false }
            s.stage = .expired
            return true
        }
        guard now else { return }
        await expireNow()
        Task { [self] in
            try? await Task.sleep(for: backstop)
            deliver(.failure(ServicesDidNotStop()))
        }
    }

    /// How long cancelled services get before the shutdown goes on without them.
    let backstop: Duration = .seconds(5)

    /// Waits for `services` to end (or for the backstop after the grace); then the grace timer
    /// is no longer needed.
    func servicesEnded(_ services: Task<Void, any Error>) async -> Result<Void, any Error> {
        Task { [self] in deliver(await services.result) }
        let outcome = await withCheckedContinuation { (waiter: CheckedContinuation<Result<Void, any Error>, Never>) in
            let ready = state.withLock { s -> Result<Void, any Error>? in
                if s.outcome == nil { s.waiter = waiter }
                return s.outcome
            }
            if let ready { waiter.resume(returning: ready) }
        }
        state.withLock { $0.graceTask }?.cancel()
        return outcome
    }

    private func deliver(_ outcome: Result<Void, any Error>) {
        let waiter = state.withLock { s -> CheckedContinuation<Result<Void, any Error>, Never>? in
            guard s.outcome == nil else { return nil }
            s.outcome = outcome
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: outcome)
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

/// Services were cancelled after the shutdown grace and did not end within the backstop.
struct ServicesDidNotStop: Error, CustomStringConvertible {
    var description: String { "services did not stop after cancellation; shutting down without them" }
}
