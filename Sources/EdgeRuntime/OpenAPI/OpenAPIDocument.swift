import EdgeCore
import Foundation

/// The OpenAPI 3.1 document of a manifest: the runtime endpoints, then every route of every
/// function as mounted, each described by its handler (``OpenAPIDescribed``).
///
/// `GET /_edge/openapi.json` and `edge-run openapi` both write ``data(manifest:registry:options:)``:
/// the same bytes (sorted keys, one trailing newline).
public enum OpenAPIDocument {
    /// What the document depends on besides the manifest.
    public struct Options: Sendable {
        /// `serve --test-scheduled`: `/__scheduled` is served.
        public var testScheduled = false
        /// `info.version` (the edge-run version).
        public var version = "dev"
        public init(testScheduled: Bool = false, version: String = "dev") {
            self.testScheduled = testScheduled
            self.version = version
        }
    }

    /// The errors any function route can answer besides its handler's own: a malformed path or
    /// body framing (400), a body over the limit (413), a handler error (500), too many handlers
    /// past their timeout or a shutdown (503), the handler timeout (504).
    static let routeErrors: Set<Int> = [400, 413, 500, 503, 504]

    /// The document as bytes: compact JSON with sorted keys and a trailing newline.
    public static func data(manifest: Manifest, registry: FunctionRegistry, options: Options) -> Data {
        var data = build(manifest: manifest, registry: registry, options: options).serialized()
        data.append(UInt8(ascii: "\n"))
        return data
    }

    /// The document as a JSON value.
    public static func build(manifest: Manifest, registry: FunctionRegistry, options: Options) -> JSONValue {
        let context = OpenAPIRuntimeEndpoints.Context(manifest: manifest, testScheduled: options.testScheduled)
        var operations = OpenAPIRuntimeEndpoints.operations(context)
        var schemes: [String: JSONValue] = [:]
        let declarations = manifest.declarations
        for function in manifest.functions {
            let type = registry.type(for: function.handler)
            for route in function.routes {
                let mount = OpenAPIMount(function: function, route: route, declarations: declarations)
                let described = (type as? any OpenAPIDescribed.Type)?.openAPIOperations(mount) ?? [generic(mount)]
                for var operation in described {
                    operation.errors.formUnion(routeErrors)
                    if operation.requestBody != nil { operation.errors.insert(408) }
                    if operation.tags.isEmpty { operation.tags = [function.name] }
                    if operation.operationID.isEmpty { operation.operationID = function.name + "." + slug(operation) }
                    if operation.adminBearer { operation.errors.insert(401) }
                    if let provider = function.auth {
                        operation.jwtProvider = provider
                        operation.errors.insert(401)
                        schemes["jwt_" + provider] = [
                            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                            "description": .string("a JWT that verifies against auth provider \"\(provider)\""),
                        ]
                    }
                    operations.append(operation)
                }
            }
        }
        var paths: [String: [String: JSONValue]] = [:]
        var usedIDs = Set<String>()
        for var operation in operations {
            let method = operation.method.lowercased()
            guard paths[operation.path]?[method] == nil else { continue }  // the router would never reach a second one
            var id = operation.operationID
            var n = 2
            while !usedIDs.insert(id).inserted {
                id = operation.operationID + "." + String(n)
                n += 1
            }
            operation.operationID = id
            paths[operation.path, default: [:]][method] = render(operation)
        }
        if operations.contains(where: \.adminBearer) {
            schemes["admin_token"] = [
                "type": "http", "scheme": "bearer",
                "description": "the value of the secret named by the admin handler's config.token_secret",
            ]
        }
        var components: [String: JSONValue] = ["schemas": ["Error": OpenAPI.errorSchema]]
        if !schemes.isEmpty { components["securitySchemes"] = .object(schemes) }
        return [
            "openapi": "3.1.0",
            "info": [
                "title": .string(manifest.name), "version": .string(options.version),
                "description": .string("The runtime endpoints and routes of edge-run manifest \"\(manifest.name)\"."),
            ],
            "paths": .object(paths.mapValues { .object($0) }),
            "components": .object(components),
        ]
    }

    /// A function whose handler does not describe itself: its route, any body, any answer.
    public static func generic(_ mount: OpenAPIMount) -> OpenAPIOperation {
        var operation = mount.operation(summary: "\(mount.function.handler) (\(mount.function.name))")
        if ["POST", "PUT", "PATCH"].contains(mount.method) {
            operation.requestBody = ["required": false, "content": ["*/*": ["schema": OpenAPI.anyValue]]]
        }
        operation.responses["default"] = ["description": "the function's answer"]
        return operation
    }

    /// The `{name}` parameters of an OpenAPI path, in order.
    public static func pathParameterNames(_ path: String) -> [String] {
        path.split(separator: "/").compactMap { segment in
            guard segment.hasPrefix("{"), segment.hasSuffix("}") else { return nil }
            return String(segment.dropFirst().dropLast())
        }
    }

    static func render(_ operation: OpenAPIOperation) -> JSONValue {
        var parameters: [JSONValue] = pathParameterNames(operation.path).map { name in
            var parameter = operation.pathParameters[name]?.objectValue ?? [:]
            parameter["name"] = .string(name)
            parameter["in"] = "path"
            parameter["required"] = true
            if parameter["schema"] == nil { parameter["schema"] = ["type": "string", "minLength": 1] }
            return .object(parameter)
        }
        parameters.append(contentsOf: operation.parameters)
        var responses = operation.responses
        for status in operation.errors where responses[String(status)] == nil {
            responses[String(status)] = [
                "description": .string(OpenAPI.errorDescription(status)),
                "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]],
            ]
        }
        var out: [String: JSONValue] = [
            "summary": .string(operation.summary), "operationId": .string(operation.operationID), "responses": .object(responses),
        ]
        if let description = operation.description { out["description"] = .string(description) }
        if !parameters.isEmpty { out["parameters"] = .array(parameters) }
        if let body = operation.requestBody { out["requestBody"] = body }
        if !operation.tags.isEmpty { out["tags"] = .array(operation.tags.map { .string($0) }) }
        var security: [JSONValue] = []
        if operation.adminBearer { security.append(["admin_token": []]) }
        if let provider = operation.jwtProvider { security.append(.object(["jwt_" + provider: []])) }
        if !security.isEmpty { out["security"] = .array(security) }
        return .object(out)
    }

    /// `get.admin.kv.namespace.keys` from a method and path.
    static func slug(_ operation: OpenAPIOperation) -> String {
        let parts = operation.path.split(separator: "/").map { $0.filter { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" } }
        return ([operation.method.lowercased()] + parts.filter { !$0.isEmpty }).joined(separator: ".")
    }
}
