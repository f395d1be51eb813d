import EdgeCore
import Foundation

/// An HTTP response from a handler.
public struct EdgeResponse: Sendable {
    public var status: Int
    public var headers: EdgeHeaders
    public var body: Data

    public init(status: Int = 200, headers: EdgeHeaders = EdgeHeaders(), body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response.
    public static func json(_ value: JSONValue, status: Int = 200, headers: EdgeHeaders = EdgeHeaders()) -> EdgeResponse {
        var h = headers
        h["Content-Type"] = "application/json"
        return EdgeResponse(status: status, headers: h, body: value.serialized())
    }

    /// A JSON response from an `Encodable` value.
    public static func json<T: Encodable>(encoding value: T, status: Int = 200) throws -> EdgeResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return EdgeResponse(status: status, headers: ["Content-Type": "application/json"], body: try encoder.encode(value))
    }

    /// A plain-text response.
    public static func text(_ text: String, status: Int = 200) -> EdgeResponse {
        // `Data(buffer:)` copies the bytes at once; `Data(text.utf8)` goes through the generic
        // sequence initialiser (a dynamic cast first).
        var text = text
        return EdgeResponse(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: text.withUTF8 { Data(buffer: $0) })
    }
}

/// An error a handler throws to answer with a status and a JSON `{"error": message}`.
public struct EdgeHTTPError: Error, CustomStringConvertible, Sendable {
    public let status: Int
    public let message: String
    public var headers: EdgeHeaders

    public init(_ status: Int, _ message: String, headers: EdgeHeaders = EdgeHeaders()) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public init(_ status: Status, _ message: String, headers: EdgeHeaders = EdgeHeaders()) {
        self.init(status.rawValue, message, headers: headers)
    }

    public var description: String { "\(status) \(message)" }

    /// The statuses of the contract.
    public enum Status: Int, Sendable {
        case badRequest = 400
        case unauthorized = 401
        case paymentRequired = 402
        case forbidden = 403
        case notFound = 404
        case methodNotAllowed = 405
        case requestTimeout = 408
        case conflict = 409
        case payloadTooLarge = 413
        case uriTooLong = 414
        case unprocessable = 422
        case tooManyRequests = 429
        case internalError = 500
        case badGateway = 502
        case serviceUnavailable = 503
        case gatewayTimeout = 504
    }
}
