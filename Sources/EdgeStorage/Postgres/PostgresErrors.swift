import Foundation
import KVStore
import PostgresNIO

/// A statement PostgreSQL refused for a reason other than being unreachable: the server's own
/// message and SQLSTATE, prefixed with the server it came from (never the password).
public struct PostgresStorageError: Error, CustomStringConvertible, Sendable {
    /// The SQLSTATE the server gave (`""` when the error arose in the client).
    public let sqlState: String
    public let description: String
}

/// The one place that turns what postgres-nio throws into errors users can read.
///
/// postgres-nio's own description is deliberately generic ("Generic description to prevent
/// accidental leakage…"), so the server's message, SQLSTATE and the client-side code are taken
/// out here. Losing the server (refused or dropped connections, shutdown, too many clients,
/// timeouts) becomes ``StorageUnavailableError`` (HTTP 503); our own errors thrown inside a
/// transaction (``KVError``…) come out unwrapped.
enum PostgresErrors {
    /// SQLSTATEs that mean "the server cannot serve now", not "this statement is wrong":
    /// connection exceptions (class 08), shutdown (57P01–57P03), too many connections (53300),
    /// out of memory or disk (53xxx), a cancelled or timed-out statement (57014), a lock
    /// timeout (55P03), a serialization or deadlock failure (40001, 40P01).
    static func isUnavailable(sqlState: String) -> Bool {
        sqlState.hasPrefix("08") || sqlState.hasPrefix("53") || sqlState.hasPrefix("57P")
            || ["57014", "55P03", "40001", "40P01"].contains(sqlState)
    }

    /// `error` as a readable error about `url`'s server.
    static func map(_ error: any Error, url: PostgresURL) -> any Error {
        switch error {
        case let error as PostgresTransactionError:
            if let inner = error.closureError { return map(inner, url: url) }
            return map(error.beginError ?? error.commitError ?? error.rollbackError ?? error, url: url)
        case let error as PSQLError:
            return map(error, url: url)
        case is PostgresDecodingError:
            return PostgresStorageError(sqlState: "", description: "storage \(url): a row did not decode (schema edge_run altered by hand?)")
        default:
            // The pool's own errors (its circuit breaker after a minute of failed connects)
            // come from a module PostgresNIO does not export: known by their type's name.
            if String(reflecting: type(of: error)).hasSuffix("ConnectionPoolError") {
                return StorageUnavailableError("cannot reach \(url.host):\(url.port) (connection pool: \(error))")
            }
            return error
        }
    }

    private static func map(_ error: PSQLError, url: PostgresURL) -> any Error {
        if let info = error.serverInfo, let message = info[.message] {
            let state = info[.sqlState] ?? ""
            var text = message
            if state == "53300" { text += " (storage_pool_size × nodes must fit the server's max_connections)" }
            if state == "57014" { text += " (statement_timeout)" }
            if isUnavailable(sqlState: state) { return StorageUnavailableError("\(url.host):\(url.port): \(text)") }
            return PostgresStorageError(sqlState: state, description: "storage \(url): \(text) (SQLSTATE \(state))")
        }
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed, .queryCancelled:
            var reason = "cannot reach \(url.host):\(url.port)"
            if let underlying = error.underlying { reason += " (\(redacted(underlying, url)))" }
            return StorageUnavailableError(reason)
        default:
            return PostgresStorageError(sqlState: "", description: "storage \(url): client error \(error.code)")
        }
    }

    /// An error's text with the URL's password removed, should it appear.
    static func redacted(_ error: any Error, _ url: PostgresURL) -> String {
        let text = String(describing: error)
        guard let password = url.password, !password.isEmpty else { return text }
        return text.replacingOccurrences(of: password, with: "****")
    }
}
