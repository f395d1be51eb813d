import EdgeCore
import Foundation
import Queues

/// One thing the runtime did — a request answered, a queue batch settled, a cron run — as
/// `GET /_edge/tail` streams it (one JSON object per `data:` line).
///
/// The fields a filter looks at (``function``, ``status``, ``queue``) are kept beside the JSON,
/// so a subscriber's filter never parses anything.
public struct LiveEvent: Sendable {
    public enum Kind: String, Sendable {
        /// An HTTP request, answered (404s and the runtime's endpoints too).
        case request
        /// A batch a queue consumer handled, with each message's outcome.
        case delivery
        /// A cron run (scheduled, or through `/__scheduled`).
        case scheduled
        /// Events this subscriber missed because it read too slowly (`count`).
        case dropped
        /// No event for a while: a keep-alive, written as an SSE comment, never as data.
        case heartbeat
    }

    public let kind: Kind
    /// The function concerned; `nil` for a runtime endpoint or an unrouted request.
    public let function: String?
    /// A request's HTTP status.
    public let status: Int?
    /// A delivery's queue.
    public let queue: String?
    /// The whole event (with its `type`).
    public let json: JSONValue

    init(kind: Kind, function: String? = nil, status: Int? = nil, queue: String? = nil, fields: [String: JSONValue]) {
        self.kind = kind
        self.function = function
        self.status = status
        self.queue = queue
        var object = fields
        object["type"] = .string(kind.rawValue)
        json = .object(object)
    }

    /// One answered request.
    /// - Parameters:
    ///   - route: the matched route pattern, the endpoint's path, or `unmatched`.
    ///   - time: unix seconds when it arrived.
    public static func request(
        method: String,
        path: String,
        route: String,
        function: String?,
        status: Int,
        durationMs: Double,
        requestID: String,
        time: Double
    ) -> LiveEvent {
        LiveEvent(
            kind: .request,
            function: function,
            status: status,
            fields: [
                "time": .string(ISO8601Millis.format(Date(timeIntervalSince1970: time))), "method": .string(method), "path": .string(path),
                "route": .string(route), "function": function.map(JSONValue.string) ?? .null, "status": .integer(Int64(status)),
                "duration_ms": .number(rounded(durationMs)), "request_id": .string(requestID),
            ]
        )
    }

    /// One settled batch: each message's id, attempts (this delivery included) and outcome.
    public static func delivery(_ report: DeliveryReport, function: String?, time: Double) -> LiveEvent {
        let messages = report.messages.map { item -> JSONValue in
            var message: [String: JSONValue] = [
                "id": .string(item.id), "attempts": .integer(Int64(item.attempts)), "outcome": .string(item.outcome.rawValue),
            ]
            if let error = item.error { message["error"] = .string(error) }
            return .object(message)
        }
        let outcomes = Set(report.messages.map(\.outcome))
        var fields: [String: JSONValue] = [
            "time": .string(ISO8601Millis.format(Date(timeIntervalSince1970: time))), "queue": .string(report.queue),
            "function": function.map(JSONValue.string) ?? .null, "count": .integer(Int64(report.messages.count)),
            "outcome": .string(outcomes.count == 1 ? outcomes.first!.rawValue : "mixed"), "messages": .array(messages),
            "duration_ms": .number(rounded(report.durationMs)),
        ]
        if let error = report.handlerError { fields["error"] = .string(error) }
        return LiveEvent(kind: .delivery, function: function, queue: report.queue, fields: fields)
    }

    /// One cron run: `outcome` is `ok` or `error` (with `error`).
    public static func scheduled(cron: String, function: String, scheduledTime: Double, error: String?, durationMs: Double, time: Double) -> LiveEvent
    {
        var fields: [String: JSONValue] = [
            "time": .string(ISO8601Millis.format(Date(timeIntervalSince1970: time))), "cron": .string(cron), "function": .string(function),
            "scheduled_time": .string(ISO8601Millis.format(Date(timeIntervalSince1970: scheduledTime))),
            "outcome": .string(error == nil ? "ok" : "error"), "duration_ms": .number(rounded(durationMs)),
        ]
        if let error { fields["error"] = .string(error) }
        return LiveEvent(kind: .scheduled, function: function, fields: fields)
    }

    /// `{"type":"dropped","count":N}`.
    public static func dropped(_ count: Int) -> LiveEvent { LiveEvent(kind: .dropped, fields: ["count": .integer(Int64(count))]) }

    static let heartbeat = LiveEvent(kind: .heartbeat, fields: [:])

    /// Milliseconds to 3 decimals (microseconds), so a line stays short.
    private static func rounded(_ ms: Double) -> Double { (ms * 1000).rounded() / 1000 }
}

/// Which events a subscriber wants (`GET /_edge/tail?function=&status=&queue=`): every given
/// filter must match, and an event without that field does not (`status` selects requests,
/// `queue` deliveries). `dropped` and heartbeats always pass.
public struct LiveEventFilter: Sendable, Equatable {
    /// Only events of this function.
    public var function: String?
    /// Only requests with one of these statuses (`500`) or classes (`5xx` → 5).
    public var statuses: [StatusMatch]?
    /// Only deliveries of this queue.
    public var queue: String?

    public enum StatusMatch: Sendable, Equatable {
        case exact(Int)
        /// `2xx` … `5xx`: the hundreds digit.
        case hundreds(Int)

        func matches(_ status: Int) -> Bool {
            switch self {
            case .exact(let code): status == code
            case .hundreds(let digit): status / 100 == digit
            }
        }
    }

    public init(function: String? = nil, statuses: [StatusMatch]? = nil, queue: String? = nil) {
        self.function = function
        self.statuses = statuses
        self.queue = queue
    }

    /// Parses `500`, `5xx`, or a comma-separated list of them (`4xx,500`).
    /// - Throws: ``EdgeHTTPError`` 400 naming `status`.
    public static func statuses(_ text: String) throws -> [StatusMatch] {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard !parts.isEmpty else { throw EdgeHTTPError(.badRequest, "status must be a status (500) or a class (5xx), comma-separated") }
        return try parts.map { part in
            if part.count == 3, part.hasSuffix("xx"), let digit = part.first?.wholeNumberValue, (1...5).contains(digit) { return .hundreds(digit) }
            if part.count == 3, part.allSatisfy(\.isASCII), let code = Int(part), (100...599).contains(code) { return .exact(code) }
            throw EdgeHTTPError(.badRequest, "status must be a status (500) or a class (5xx), comma-separated")
        }
    }

    public func matches(_ event: LiveEvent) -> Bool {
        if event.kind == .dropped || event.kind == .heartbeat { return true }
        if let function, event.function != function { return false }
        if let queue, event.queue != queue { return false }
        if let statuses {
            guard let status = event.status, statuses.contains(where: { $0.matches(status) }) else { return false }
        }
        return true
    }
}
