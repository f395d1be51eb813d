import EdgeCore
import Foundation
import KVStore
import Queues

/// The one place that turns an error into an HTTP status and a message safe to show.
enum ErrorMapping {
    /// `(status, message, headers, internal)` for `error`; unknown errors are 500
    /// "internal error" (`internal`: the details belong in the log only).
    static func response(for error: any Error) -> (status: Int, message: String, headers: EdgeHeaders, internal: Bool) {
        switch error {
        case let e as EdgeHTTPError:
            // 503 is the runtime refusing work on purpose (shutdown, runaway handlers), not a failure to log.
            return (e.status, e.message, e.headers, e.status >= 500 && e.status != 503)
        case let e as NumberFieldError:
            return (400, e.description, [:], false)
        case let e as KVError:
            let status = e.code == .keyTooLong ? 414 : e.code == .valueTooLarge ? 413 : e.code == .unknownNamespace ? 404 : 400
            return (status, e.message, [:], false)
        case let e as QueueError:
            let status: Int
            switch e.code {
            case .messageTooLarge, .batchTooLarge: status = 413
            case .unknownQueue: status = 404
            case .invalidConfiguration: status = 500
            default: status = 400
            }
            return (status, status == 500 ? "internal error" : e.message, [:], status == 500)
        case is StorageUnavailableError:
            // The storage server is down: the node stays up and recovers when it is back.
            return (503, "storage unavailable", [:], false)
        case let e as FetchError:
            return (e.suggestedStatus, e.code == .timeout ? "upstream provider timed out" : "upstream provider failed", [:], true)
        case is DecodingError:
            return (400, "request body is not valid: \(DecodingErrorDescription(error))", [:], false)
        default:
            return (500, "internal error", [:], true)
        }
    }

    /// The JSON error body of the contract.
    static func body(message: String, requestID: String) -> Data {
        JSONValue.object(["error": .string(message), "request_id": .string(requestID)]).serialized()
    }
}
