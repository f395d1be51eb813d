import EdgeRuntime
import Foundation
import KVStore

/// `kv.api`: the admin REST API over the KV bindings, behind a bearer token.
///
/// - `GET    <route>/:namespace/values/:key` → raw bytes (`X-Edge-Expiration`, `X-Edge-Metadata`)
/// - `PUT    <route>/:namespace/values/:key?expiration=&expiration_ttl=` (body: the value;
///   `X-Edge-Metadata`: JSON) → `{"success":true}`
/// - `DELETE <route>/:namespace/values/:key` → `{"success":true}`
/// - `GET    <route>/:namespace/keys?prefix=&limit=&cursor=` → the list result
///
/// Declare it with a trailing-wildcard route such as `"GET /admin/kv/*"` (and `PUT`, `DELETE`),
/// or with explicit `:namespace` and `:key` parameters. A key may contain `/`.
public struct KVAPIFunction: EdgeFunction, HeadAuthorizing, InlineAnswering {
    /// Values may be 25 MiB: the body limit defaults to that when no `limits.max_body_bytes` is
    /// set (neither the function's nor the top-level one).
    public static var defaultMaxBodyBytes: Int? { 25 << 20 }

    let tokenSecret: String

    public init(config: FunctionConfig) throws {
        tokenSecret = try config.secretName("token_secret")
    }

    /// The bearer token, checked from the head before any of the body is read.
    public func authorize(_ request: EdgeRequest, env: Env) throws {
        try request.requireBearer(try env.requiredSecret(tokenSecret))
    }

    /// Reads (`GET`/`HEAD` of a value or a key list) are LMDB read transactions: over in
    /// microseconds, never waiting on a writer, so they skip the deadline race. Writes wait for
    /// the writer thread's commit (fsync) and keep it.
    public func answersInline(_ request: EdgeRequest) -> Bool { request.method == "GET" || request.method == "HEAD" }

    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        try authorize(request, env: env)
        let (namespace, action, key) = try route(request)
        let store = try env.kv(namespace)
        switch (request.method, action) {
        case ("GET", "values"), ("HEAD", "values"):
            guard let key, let entry = try await store.getWithMetadata(key) else { throw EdgeHTTPError(.notFound, "key not found") }
            var headers: EdgeHeaders = ["Content-Type": "application/octet-stream"]
            if let expiration = entry.expiration { headers["X-Edge-Expiration"] = String(expiration) }
            if let metadata = entry.metadata { headers["X-Edge-Metadata"] = String(decoding: metadata, as: UTF8.self) }
            return EdgeResponse(status: 200, headers: headers, body: entry.value)
        case ("PUT", "values"):
            guard let key else { throw EdgeHTTPError(.notFound, "no such endpoint") }
            var options = KVPutOptions()
            options.expiration = try integer(request, "expiration")
            options.expirationTtl = try integer(request, "expiration_ttl")
            options.metadata = request.headers["X-Edge-Metadata"].map { Data($0.utf8) }
            try await store.put(key, value: request.body, options: options)
            return .json(["success": true])
        case ("DELETE", "values"):
            guard let key else { throw EdgeHTTPError(.notFound, "no such endpoint") }
            try await store.delete(key)
            return .json(["success": true])
        case ("GET", "keys"):
            let limit =
                try request.queryParameter("limit").flatMap { $0.isEmpty ? nil : $0 }
                .map { try CheckedInteger.parse($0, field: "limit", in: 1...1000) } ?? 1000
            let prefix = request.queryParameter("prefix")
            let cursor = request.queryParameter("cursor").flatMap { $0.isEmpty ? nil : $0 }
            let page = try await store.list(KVListOptions(prefix: prefix, limit: limit, cursor: cursor))
            return EdgeResponse(status: 200, headers: ["Content-Type": "application/json"], body: try page.jsonData())
        default:
            let allowed = action == "keys" ? "GET, HEAD" : "DELETE, GET, HEAD, PUT"
            throw EdgeHTTPError(.methodNotAllowed, "method \(request.method) is not allowed here", headers: ["Allow": allowed])
        }
    }

    /// `(namespace, "values" | "keys", key?)` from the path.
    private func route(_ request: EdgeRequest) throws -> (String, String, String?) {
        if let namespace = request.params["namespace"] {
            if let key = request.params["key"] { return (namespace, "values", key) }
            return (namespace, "keys", nil)
        }
        // `<namespace>/values/<key…>` or `<namespace>/keys`, cut on the UTF-8 bytes without
        // splitting the key's own segments apart and joining them again (this runs per request).
        func notFound() -> EdgeHTTPError { EdgeHTTPError(.notFound, "no such endpoint") }
        guard let rest = request.params["*"]?.utf8, let slash = rest.firstIndex(of: UInt8(ascii: "/")), slash != rest.startIndex else {
            throw notFound()
        }
        let namespace = String(Substring(rest[..<slash]))
        let actionStart = rest.index(after: slash)
        guard let second = rest[actionStart...].firstIndex(of: UInt8(ascii: "/")) else {
            guard Substring(rest[actionStart...]) == "keys" else { throw notFound() }
            return (namespace, "keys", nil)
        }
        let key = String(Substring(rest[rest.index(after: second)...]))
        guard Substring(rest[actionStart..<second]) == "values", !key.isEmpty else { throw notFound() }
        return (namespace, "values", key)
    }

    /// The query parameter `name` as a decimal integer; one with more digits than an `Int64`
    /// holds saturates, so the store's range check names the field and its window (400).
    private func integer(_ request: EdgeRequest, _ name: String) throws -> Int64? {
        guard let text = request.queryParameter(name), !text.isEmpty else { return nil }
        guard let value = CheckedInteger.saturating(text) else { throw EdgeHTTPError(.badRequest, "\(name) must be an integer") }
        return value
    }
}

extension KVAPIFunction: OpenAPIDescribed {
    /// A trailing-`*` route spells out `<route>/{namespace}/values/{key}` (GET, PUT, DELETE as
    /// mounted) and `<route>/{namespace}/keys` (GET); a route with `:namespace`/`:key` is itself.
    public static func openAPIOperations(_ mount: OpenAPIMount) -> [OpenAPIOperation] {
        let valuePath: String
        let keysPath: String?
        if mount.hasWildcard {
            valuePath = OpenAPIMount.join(mount.basePath, "/{namespace}/values/{key}")
            keysPath = OpenAPIMount.join(mount.basePath, "/{namespace}/keys")
        } else if mount.hasParameter("key") {
            valuePath = mount.path
            keysPath = nil
        } else {
            guard mount.method == "GET" else { return [] }
            return withNamespaces([keys(at: mount.path)], mount)
        }
        switch mount.method {
        case "GET": return withNamespaces([value(.get, at: valuePath)] + (keysPath.map { [keys(at: $0)] } ?? []), mount)
        case "PUT": return withNamespaces([value(.put, at: valuePath)], mount)
        case "DELETE": return withNamespaces([value(.delete, at: valuePath)], mount)
        default: return []
        }
    }

    /// `{namespace}` names one of the manifest's KV bindings.
    private static func withNamespaces(_ operations: [OpenAPIOperation], _ mount: OpenAPIMount) -> [OpenAPIOperation] {
        operations.map { operation in
            var operation = operation
            operation.pathParameters["namespace"] = OpenAPIMount.named("a KV binding of the manifest", oneOf: mount.declarations.kvBindings)
            return operation
        }
    }

    private enum ValueAction { case get, put, delete }

    private static let pathParameters: [String: JSONValue] = [
        "key": ["description": "the key, 1–512 bytes (may contain /)", "schema": ["type": "string", "minLength": 1]]
    ]

    private static func value(_ action: ValueAction, at path: String) -> OpenAPIOperation {
        let success = OpenAPI.jsonResponse("done", OpenAPI.object(["success": OpenAPI.boolean], required: ["success"]))
        var operation: OpenAPIOperation
        switch action {
        case .get:
            operation = OpenAPIOperation(method: "GET", path: path, summary: "Read a value")
            operation.responses["200"] = [
                "description": "the raw value",
                "content": ["application/octet-stream": ["schema": ["type": "string", "contentMediaType": "application/octet-stream"]]],
                "headers": [
                    "X-Edge-Expiration": OpenAPI.header("expiry, unix seconds (when set)", OpenAPI.integer),
                    "X-Edge-Metadata": OpenAPI.header("the metadata JSON (when set)"),
                ],
            ]
            operation.errors = [404, 414]
        case .put:
            operation = OpenAPIOperation(
                method: "PUT",
                path: path,
                summary: "Write a value",
                description: "The body is the value (≤ 25 MiB). A put without metadata clears it."
            )
            operation.parameters = [
                OpenAPI.parameter("expiration", in: "query", OpenAPI.integer, description: "absolute expiry, unix seconds"),
                OpenAPI.parameter("expiration_ttl", in: "query", OpenAPI.integer, description: "seconds from now, ≥ kv.min_ttl_seconds"),
                OpenAPI.parameter("X-Edge-Metadata", in: "header", description: "JSON metadata, ≤ 1024 bytes"),
            ]
            operation.requestBody = OpenAPI.body(
                "application/octet-stream",
                ["type": "string", "contentMediaType": "application/octet-stream"],
                required: false
            )
            operation.responses["200"] = success
            operation.errors = [404, 413, 414]
        case .delete:
            operation = OpenAPIOperation(method: "DELETE", path: path, summary: "Delete a key (also when absent)")
            operation.responses["200"] = success
            operation.errors = [404, 414]
        }
        operation.pathParameters = pathParameters
        operation.adminBearer = true
        return operation
    }

    private static func keys(at path: String) -> OpenAPIOperation {
        var operation = OpenAPIOperation(
            method: "GET",
            path: path,
            summary: "List keys",
            description: "In UTF-8 byte order; `expiration` is absolute."
        )
        operation.parameters = [
            OpenAPI.parameter("prefix", in: "query"),
            OpenAPI.parameter("limit", in: "query", OpenAPI.integer(1...1000), description: "default 1000"),
            OpenAPI.parameter("cursor", in: "query", description: "the cursor of the previous page"),
        ]
        let key = OpenAPI.object(["name": OpenAPI.string, "expiration": OpenAPI.integer, "metadata": OpenAPI.anyValue], required: ["name"])
        operation.responses["200"] = OpenAPI.jsonResponse(
            "a page of keys",
            OpenAPI.object(
                ["keys": OpenAPI.array(key), "list_complete": OpenAPI.boolean, "cursor": OpenAPI.string],
                required: ["keys", "list_complete"]
            )
        )
        operation.errors = [404]
        operation.pathParameters = pathParameters
        operation.adminBearer = true
        return operation
    }
}
