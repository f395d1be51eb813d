import Foundation

/// The runtime's own endpoints in the OpenAPI document: the one list of them.
///
/// A new runtime endpoint (such as `/_edge/tail` or `/_edge/console`, served only when the
/// manifest has an admin function: see ``Context/hasAdminFunction``) adds its operation in
/// ``operations(_:)`` beside the ones below.
public enum OpenAPIRuntimeEndpoints {
    /// What decides which runtime endpoints a server has.
    public struct Context: Sendable {
        public let manifest: Manifest
        /// `serve --test-scheduled`.
        public let testScheduled: Bool

        /// Whether a function runs an admin handler (`kv.api`, `queues.api`), whose bearer token
        /// the developer endpoints require (``AdminSurface``).
        public var hasAdminFunction: Bool { !AdminSurface.tokenSecrets(of: manifest).isEmpty }
    }

    /// The operations of the runtime endpoints this server serves.
    public static func operations(_ context: Context) -> [OpenAPIOperation] {
        var operations = [health, metrics, openAPI]
        if context.testScheduled { operations.append(scheduled) }
        // Developer endpoints, served only with an admin function (add `/_edge/console` here too):
        if context.hasAdminFunction { operations.append(tail) }
        return operations.map { operation in
            var operation = operation
            operation.tags = ["runtime"]
            if operation.adminBearer { operation.errors.insert(401) }
            // Any request: a body over the limit is refused from its declared length; the server may be shutting down.
            operation.errors.formUnion([405, 503])
            return operation
        }
    }

    static var health: OpenAPIOperation {
        var operation = OpenAPIOperation(method: "GET", path: "/_edge/health", summary: "Health check")
        operation.operationID = "edge.health"
        let schema = OpenAPI.object(["status": ["type": "string", "enum": ["ok", "degraded"]], "storage": OpenAPI.string], required: ["status"])
        operation.responses["200"] = OpenAPI.jsonResponse("the runtime is serving", schema)
        operation.responses["503"] = OpenAPI.jsonResponse("storage unreachable", schema)
        return operation
    }

    static var metrics: OpenAPIOperation {
        var operation = OpenAPIOperation(
            method: "GET",
            path: "/_edge/metrics",
            summary: "Prometheus metrics",
            description: "Prometheus text exposition format 0.0.4: requests, latency, queues, KV, process and LMDB series."
        )
        operation.operationID = "edge.metrics"
        operation.responses["200"] = ["description": "the metrics", "content": ["text/plain": ["schema": OpenAPI.string]]]
        return operation
    }

    static var openAPI: OpenAPIOperation {
        var operation = OpenAPIOperation(method: "GET", path: "/_edge/openapi.json", summary: "This OpenAPI document")
        operation.operationID = "edge.openapi"
        operation.responses["200"] = OpenAPI.jsonResponse(
            "an OpenAPI 3.1 document",
            OpenAPI.object(
                ["openapi": OpenAPI.string, "info": ["type": "object"], "paths": ["type": "object"]],
                required: ["openapi", "info", "paths"]
            )
        )
        return operation
    }

    static var tail: OpenAPIOperation {
        var operation = OpenAPIOperation(
            method: "GET",
            path: "/_edge/tail",
            summary: "Live events (requests, deliveries, cron runs)",
            description: "A text/event-stream, one JSON event per data: line, until the client or the server ends it. "
                + "Refused (403) on a non-loopback host unless the manifest sets \"console\": true."
        )
        operation.operationID = "edge.tail"
        operation.parameters = [
            OpenAPI.parameter("function", in: "query", description: "only this function's events"),
            OpenAPI.parameter("status", in: "query", description: "only requests with these statuses or classes, e.g. 500,4xx"),
            OpenAPI.parameter("queue", in: "query", description: "only this queue's deliveries"),
        ]
        operation.responses["200"] = ["description": "the event stream", "content": ["text/event-stream": ["schema": OpenAPI.string]]]
        operation.errors = [400, 401, 403]
        operation.adminBearer = true
        return operation
    }

    static var scheduled: OpenAPIOperation {
        var operation = OpenAPIOperation(
            method: "GET",
            path: "/__scheduled",
            summary: "Run scheduled handlers now",
            description:
                "Served only with `serve --test-scheduled`: runs the crons with schedule `cron` (all without it) and answers when they finished."
        )
        operation.operationID = "edge.scheduled"
        operation.parameters = [OpenAPI.parameter("cron", in: "query", description: "a schedule of the manifest's crons, e.g. */5 * * * *")]
        operation.responses["200"] = OpenAPI.jsonResponse(
            "how many scheduled handlers ran",
            OpenAPI.object(["ran": OpenAPI.integer], required: ["ran"])
        )
        operation.errors = [500]
        return operation
    }
}
