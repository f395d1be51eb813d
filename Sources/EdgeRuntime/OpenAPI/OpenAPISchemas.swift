import EdgeCore
import Foundation

/// Small builders of OpenAPI 3.1 (JSON Schema 2020-12) fragments, so handler descriptions stay short.
public enum OpenAPI {
    /// The error body of every non-2xx answer: `{"error", "request_id"}`.
    public static let errorSchema: JSONValue = [
        "type": "object", "required": ["error", "request_id"],
        "properties": ["error": ["type": "string"], "request_id": ["type": "string"]],
    ]

    public static let string: JSONValue = ["type": "string"]
    public static let integer: JSONValue = ["type": "integer"]
    public static let boolean: JSONValue = ["type": "boolean"]
    /// Any JSON value.
    public static let anyValue: JSONValue = [:]

    /// An object schema; `required` names must be keys of `properties`.
    public static func object(_ properties: [String: JSONValue], required: [String] = [], additional: Bool = true) -> JSONValue {
        var schema: [String: JSONValue] = ["type": "object", "properties": .object(properties)]
        if !required.isEmpty { schema["required"] = .array(required.map { .string($0) }) }
        if !additional { schema["additionalProperties"] = false }
        return .object(schema)
    }

    public static func array(_ items: JSONValue, minItems: Int? = nil, maxItems: Int? = nil) -> JSONValue {
        var schema: [String: JSONValue] = ["type": "array", "items": items]
        if let minItems { schema["minItems"] = .integer(Int64(minItems)) }
        if let maxItems { schema["maxItems"] = .integer(Int64(maxItems)) }
        return .object(schema)
    }

    public static func integer(_ range: ClosedRange<Int64>) -> JSONValue {
        ["type": "integer", "minimum": .integer(range.lowerBound), "maximum": .integer(range.upperBound)]
    }

    /// `{"received": true}`, the webhooks' acknowledgement.
    public static let received: JSONValue = object(["received": boolean], required: ["received"])

    /// A JSON answer with `schema`.
    public static func jsonResponse(_ description: String, _ schema: JSONValue, headers: [String: JSONValue] = [:]) -> JSONValue {
        var response: [String: JSONValue] = ["description": .string(description), "content": ["application/json": ["schema": schema]]]
        if !headers.isEmpty { response["headers"] = .object(headers) }
        return .object(response)
    }

    /// A JSON request body with `schema`.
    public static func jsonBody(_ schema: JSONValue, required: Bool = true) -> JSONValue {
        ["required": .bool(required), "content": ["application/json": ["schema": schema]]]
    }

    /// A request body of `mediaType` (form, raw bytes, …).
    public static func body(_ mediaType: String, _ schema: JSONValue, required: Bool = true) -> JSONValue {
        ["required": .bool(required), "content": .object([mediaType: ["schema": schema]])]
    }

    /// A query or header parameter.
    public static func parameter(
        _ name: String,
        in location: String,
        _ schema: JSONValue = string,
        required: Bool = false,
        description: String? = nil
    ) -> JSONValue {
        var parameter: [String: JSONValue] = ["name": .string(name), "in": .string(location), "required": .bool(required), "schema": schema]
        if let description { parameter["description"] = .string(description) }
        return .object(parameter)
    }

    /// A response header.
    public static func header(_ description: String, _ schema: JSONValue = string) -> JSONValue {
        ["description": .string(description), "schema": schema]
    }

    /// What the runtime answers with each error status.
    static func errorDescription(_ status: Int) -> String {
        switch status {
        case 400: "bad input"
        case 401: "missing or wrong credentials"
        case 403: "forbidden"
        case 404: "not found"
        case 405: "method not allowed"
        case 408: "request body not received in time"
        case 409: "conflict"
        case 413: "body too large"
        case 414: "key too long"
        case 429: "rate limited"
        case 500: "handler error (no internals)"
        case 502: "the provider failed"
        case 503: "unavailable (shutting down, or too many handlers past their timeout)"
        case 504: "handler timeout"
        default: "error"
        }
    }
}
