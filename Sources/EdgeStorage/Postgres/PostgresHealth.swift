import KVStore
import Logging
import PostgresNIO
import Synchronization

/// Watches the server once a second on a connection of its own (`SELECT 1` within 2 s; three
/// such probes in a row without an answer, or one refused connection, count), so a busy pool is
/// never taken for a dead server. While the server is unreachable, storage calls
/// fail at once with ``StorageUnavailableError`` (HTTP 503) instead of waiting in the pool,
/// `/_edge/health` answers `degraded`, and the node recovers by itself when a probe succeeds
/// again.
final class PostgresHealth: Sendable {
    private let problem = Mutex<String?>(nil)
    let url: PostgresURL
    let configuration: PostgresConnection.Configuration
    let logger: Logger
    static let interval: Duration = .seconds(1)
    static let probeTimeout: Duration = .seconds(2)
    /// Probes in a row that got no answer within ``probeTimeout`` before the storage counts as
    /// unavailable (3; see ``PostgresStorageBackend/slowProbesBeforeUnavailable``).
    static let slowProbes = Atomic<Int>(3)
    static var slowProbesBeforeDegraded: Int { slowProbes.load(ordering: .relaxed) }

    init(url: PostgresURL, configuration: PostgresConnection.Configuration, logger: Logger) {
        self.url = url
        self.configuration = configuration
        self.logger = logger
    }

    /// Why the storage is unavailable, or `nil` when the last probe succeeded.
    var currentProblem: String? { problem.withLock { $0 } }

    /// Throws ``StorageUnavailableError`` while the last probe failed.
    func check() throws(StorageUnavailableError) {
        if let reason = currentProblem { throw StorageUnavailableError(reason) }
    }

    /// Probes until cancelled.
    ///
    /// A refused or broken connection marks the storage unavailable at once; a probe that only
    /// took longer than ``probeTimeout`` does so after ``slowProbesBeforeDegraded`` in a row, so
    /// a loaded server (or a loaded node) is not taken for a dead one.
    func watch() async {
        let probe = Probe(url: url, configuration: configuration, logger: logger)
        var slowInARow = 0
        while !Task.isCancelled {
            let outcome = await probe.run(within: Self.probeTimeout)
            if Task.isCancelled { break }
            if case .slow = outcome { slowInARow += 1 } else { slowInARow = 0 }
            if case .slow = outcome, slowInARow < Self.slowProbesBeforeDegraded {
                // Not enough slow probes yet to say so: the last verdict stands.
                do { try await Task.sleep(for: Self.interval) } catch { break }
                continue
            }
            let reason: String? =
                switch outcome {
                case .answered: nil
                case .failed(let why), .slow(let why): "\(url.host):\(url.port): \(why)"
                }
            let previous = problem.withLock { p -> String? in
                defer { p = reason }
                return p
            }
            if previous == nil, let reason { logger.error("PostgreSQL unreachable: storage requests answer 503", metadata: ["reason": "\(reason)"]) }
            if previous != nil, reason == nil { logger.notice("PostgreSQL reachable again") }
            do { try await Task.sleep(for: Self.interval) } catch { break }
        }
        await probe.close()
    }

    /// A short reason (no credentials: PSQLError's own description is generic).
    static func describe(_ error: any Error, url: PostgresURL) -> String {
        switch PostgresErrors.map(error, url: url) {
        case let error as StorageUnavailableError: error.reason
        case let error: "\(error)"
        }
    }
}

/// What one health probe saw.
enum ProbeOutcome: Equatable, Sendable {
    case answered
    /// The connection was refused or broke, or the server answered with an error.
    case failed(String)
    /// No answer within the probe's timeout.
    case slow(String)
}

/// The health watch's own connection: opened on demand, dropped after a failed probe.
private final class Probe: Sendable {
    let url: PostgresURL
    let configuration: PostgresConnection.Configuration
    let logger: Logger
    private let connection = Mutex<PostgresConnection?>(nil)

    init(url: PostgresURL, configuration: PostgresConnection.Configuration, logger: Logger) {
        self.url = url
        self.configuration = configuration
        self.logger = logger
    }

    /// How `SELECT 1` went: answered within `timeout`, failed (and why), or no answer within
    /// `timeout`. Never waits longer than `timeout`, even on a connection that hangs (a silent
    /// network): the probe then goes on in the background and its connection is dropped.
    func run(within timeout: Duration) async -> ProbeOutcome {
        let answer = OneAnswer()
        let probing = Task { [self] in
            let reason = await attempt()
            if !answer.give(reason.map { .failed($0) } ?? .answered) { drop() }  // too late: its connection is not trusted
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            if answer.give(.slow("no answer within \(timeout)")) { probing.cancel() }
        }
        let outcome = await answer.value()
        timer.cancel()
        if outcome != .answered { drop() }
        return outcome
    }

    private func attempt() async -> String? {
        do {
            let current: PostgresConnection
            if let open = connection.withLock({ $0 }) {
                current = open
            } else {
                current = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
                connection.withLock { $0 = current }
            }
            for try await _ in try await current.query("SELECT 1", logger: logger) {}
            return nil
        } catch {
            drop()
            return PostgresHealth.describe(error, url: url)
        }
    }

    private func drop() {
        if let open = connection.withLock({ c -> PostgresConnection? in
            defer { c = nil }
            return c
        }) {
            // Kept alive until closed (a connection must not be freed open).
            open.close().whenComplete { _ in withExtendedLifetime(open) {} }
        }
    }

    func close() async {
        if let open = connection.withLock({ c -> PostgresConnection? in
            defer { c = nil }
            return c
        }) {
            try? await open.close()
        }
    }
}

/// The first of several answers, awaited once.
private final class OneAnswer: Sendable {
    private struct State {
        var answer: ProbeOutcome? = .none
        var waiter: CheckedContinuation<ProbeOutcome, Never>?
    }
    private let state = Mutex(State())

    /// Gives `answer`. - Returns: `false` when an answer was given before (this one is ignored).
    func give(_ answer: ProbeOutcome) -> Bool {
        let (taken, waiter) = state.withLock { s -> (Bool, CheckedContinuation<ProbeOutcome, Never>?) in
            guard s.answer == nil else { return (false, nil) }
            s.answer = answer
            defer { s.waiter = nil }
            return (true, s.waiter)
        }
        waiter?.resume(returning: answer)
        return taken
    }

    /// The first answer given (waits for it).
    func value() async -> ProbeOutcome {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { s -> ProbeOutcome? in
                if let answer = s.answer { return answer }
                s.waiter = continuation
                return .none
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
