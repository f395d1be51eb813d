import KVStore
import Logging
import PostgresNIO
import Synchronization

/// Watches the server once a second (`SELECT 1` within 2 s). While it is unreachable, storage
/// calls fail at once with ``StorageUnavailableError`` (HTTP 503) instead of waiting in the
/// pool, `/_edge/health` answers `degraded`, and the node recovers by itself when a probe
/// succeeds again.
final class PostgresHealth: Sendable {
    private let problem = Mutex<String?>(nil)
    let client: PostgresClient
    let logger: Logger
    static let interval: Duration = .seconds(1)
    static let probeTimeout: Duration = .seconds(2)

    init(client: PostgresClient, logger: Logger) {
        self.client = client
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
        while !Task.isCancelled {
            let reason = await probe()
            let previous = problem.withLock { p -> String? in
                defer { p = reason }
                return p
            }
            if previous == nil, let reason { logger.error("PostgreSQL unreachable: storage requests answer 503", metadata: ["reason": "\(reason)"]) }
            if previous != nil, reason == nil { logger.notice("PostgreSQL reachable again") }
            do { try await Task.sleep(for: Self.interval) } catch { return }
        }
    }

    /// `nil` when `SELECT 1` answered in time.
    private func probe() async -> String? {
        await withTaskGroup(of: String?.self) { group in
            group.addTask { [client] in
                do {
                    for try await _ in try await client.query("SELECT 1") {}
                    return nil
                } catch {
                    return Self.describe(error)
                }
            }
            group.addTask {
                do { try await Task.sleep(for: Self.probeTimeout) } catch { return nil }
                return "no answer within \(Self.probeTimeout)"
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// A short reason (no credentials: PSQLError's own description is generic).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            return "\(error.code)"
        }
        return "\(type(of: error))"
    }
}
