import KVStore
import Logging
import PostgresNIO
import Synchronization

/// Watches the server once a second on a connection of its own (`SELECT 1` within 2 s), so a
/// busy pool is never taken for a dead server. While the server is unreachable, storage calls
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
    func watch() async {
        let probe = Probe(url: url, configuration: configuration, logger: logger)
        while !Task.isCancelled {
            let outcome = await probe.run(within: Self.probeTimeout)
            if Task.isCancelled { break }
            let reason = outcome.map { "\(url.host):\(url.port): \($0)" }
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

    /// `nil` when `SELECT 1` answered within `timeout`, else why not. Never waits longer than
    /// `timeout`, even on a connection that hangs (a silent network): the probe then goes on
    /// in the background and its connection is dropped.
    func run(within timeout: Duration) async -> String? {
        let answer = OneAnswer()
        let probing = Task { [self] in
            let reason = await attempt()
            if !answer.give(reason) { drop() }  // too late: its connection is not trusted
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            if answer.give("no answer within \(timeout)") { probing.cancel() }
        }
        let reason = await answer.value()
        timer.cancel()
        if reason != nil { drop() }
        return reason
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
        if let open = connection.withLock({ c -> PostgresConnection? in defer { c = nil }; return c }) {
            // Kept alive until closed (a connection must not be freed open).
            open.close().whenComplete { _ in withExtendedLifetime(open) {} }
        }
    }

    func close() async {
        if let open = connection.withLock({ c -> PostgresConnection? in defer { c = nil }; return c }) {
            try? await open.close()
        }
    }
}

/// The first of several answers, awaited once.
private final class OneAnswer: Sendable {
    private struct State {
        var answer: String?? = .none
        var waiter: CheckedContinuation<String?, Never>?
    }
    private let state = Mutex(State())

    /// Gives `answer`. - Returns: `false` when an answer was given before (this one is ignored).
    func give(_ answer: String?) -> Bool {
        let (taken, waiter) = state.withLock { s -> (Bool, CheckedContinuation<String?, Never>?) in
            guard case .none = s.answer else { return (false, nil) }
            s.answer = .some(answer)
            defer { s.waiter = nil }
            return (true, s.waiter)
        }
        waiter?.resume(returning: answer)
        return taken
    }

    /// The first answer given (waits for it).
    func value() async -> String? {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { s -> String?? in
                if case .some(let answer) = s.answer { return .some(answer) }
                s.waiter = continuation
                return .none
            }
            if case .some(let answer) = ready { continuation.resume(returning: answer) }
        }
    }
}
