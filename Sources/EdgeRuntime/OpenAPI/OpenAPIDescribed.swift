import EdgeCore
import Foundation

/// A handler that describes the HTTP operations of its routes for `/_edge/openapi.json`.
///
/// Each handler brings its own description, next to its code: the document builder asks the
/// handler type of every mounted route for its operations. A handler that does not conform (a
/// user's own function) is described generically: its route, any body, any answer.
public protocol OpenAPIDescribed {
    /// The operations one route of a function mounts (usually one; an admin handler on a
    /// trailing-`*` route spells out its sub-paths).
    static func openAPIOperations(_ mount: OpenAPIMount) -> [OpenAPIOperation]
}

/// One route of one function, as the manifest mounts it.
public struct OpenAPIMount: Sendable {
    public let function: FunctionSpec
    public let route: RoutePattern
    /// The manifest's KV bindings and queues (what an admin path parameter may name).
    public let declarations: ManifestDeclarations

    public init(function: FunctionSpec, route: RoutePattern, declarations: ManifestDeclarations) {
        self.function = function
        self.route = route
        self.declarations = declarations
    }

    /// A path parameter naming one of `names` (a declared binding or queue): any other name is 404.
    public static func named(_ description: String, oneOf names: [String]) -> JSONValue {
        var schema: [String: JSONValue] = ["type": "string", "minLength": 1]
        if !names.isEmpty { schema["enum"] = .array(names.sorted().map { .string($0) }) }
        return ["description": .string(description + " (any other name is 404)"), "schema": .object(schema)]
    }

    /// The route's method.
    public var method: String { route.method }

    /// The route's path in OpenAPI form: `:id` → `{id}`, a trailing `*` → `{path}` (one or more
    /// segments; `{rest}` when the route already has a `:path` parameter).
    public var path: String {
        Self.openAPIPath(
            route.segments.map { segment -> String in
                switch segment {
                case .literal(let s): s
                case .parameter(let p): "{\(p)}"
                case .wildcard: "{\(wildcardName)}"
                }
            }
        )
    }

    /// The path without a trailing `/*` in OpenAPI form: the admin handlers' `<route>`.
    public var basePath: String {
        var segments = route.segments
        if segments.last == .wildcard { segments.removeLast() }
        return Self.openAPIPath(
            segments.map { segment -> String in
                if case .literal(let s) = segment { return s }
                if case .parameter(let p) = segment { return "{\(p)}" }
                return "{\(wildcardName)}"
            }
        )
    }

    /// Whether the route ends in `*`.
    public var hasWildcard: Bool { route.segments.last == .wildcard }

    /// Whether the route has the parameter `:name`.
    public func hasParameter(_ name: String) -> Bool { route.segments.contains(.parameter(name)) }

    /// The path parameter name standing for a trailing `*`.
    public var wildcardName: String { hasParameter("path") ? "rest" : "path" }

    /// `base` + `suffix` (`suffix` starts with `/`), without a doubled `/` when `base` is `/`.
    public static func join(_ base: String, _ suffix: String) -> String { base == "/" ? suffix : base + suffix }

    static func openAPIPath(_ segments: [String]) -> String { "/" + segments.joined(separator: "/") }

    /// An operation at this route's own path and method.
    public func operation(summary: String, description: String? = nil) -> OpenAPIOperation {
        OpenAPIOperation(method: method, path: path, summary: summary, description: description)
    }
}

/// One operation of the document: a method on a path, its inputs and its answers.
public struct OpenAPIOperation: Sendable {
    public var method: String
    /// OpenAPI form (`/admin/kv/{namespace}/keys`); its `{…}` parameters are declared by the builder.
    public var path: String
    public var summary: String
    public var description: String?
    /// Query and header parameters (`OpenAPI.parameter(…)`).
    public var parameters: [JSONValue] = []
    /// Descriptions (and schemas) of path parameters, by name; a parameter not listed is a plain string.
    public var pathParameters: [String: JSONValue] = [:]
    /// The `requestBody` object, or `nil` when the operation reads no body.
    public var requestBody: JSONValue?
    /// Answers by status (`"200"`, `"202"`); the error statuses are in ``errors``.
    public var responses: [String: JSONValue] = [:]
    /// Statuses answered with the `{error, request_id}` body (the builder adds the runtime's own).
    public var errors: Set<Int> = []
    /// Whether the operation needs the admin bearer token (`kv.api`, `queues.api`).
    public var adminBearer = false
    /// The auth provider whose JWT the function requires (set by the builder from the function's `auth`).
    public var jwtProvider: String?
    /// A stable id, unique in the document (set by the builder when empty).
    public var operationID = ""
    public var tags: [String] = []

    public init(method: String, path: String, summary: String, description: String? = nil) {
        self.method = method
        self.path = path
        self.summary = summary
        self.description = description
    }
}
