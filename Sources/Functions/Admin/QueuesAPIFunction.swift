import EdgeRuntime
import Foundation
import KVStore
import Queues

/// `queues.api`: the admin REST API over the queues, behind a bearer token.
///
/// - `POST <route>/:queue/messages` `{"body", "content_type", "delay_seconds"}` → 202 `{"id"}`
/// - `POST <route>/:queue/messages/batch` `{"messages": [...]}` → 202 `{"ids"}`
/// - `GET  <route>` → `[{"name", "pending", "delayed", "in_flight", "dead_lettered"}]`
/// - `GET  <route>/:queue/messages?limit=N[&dead_letters=true]` → `{"messages": [...]}` (peek)
/// - `POST <route>/:queue/redrive` `{"to": "payments"}` → `{"moved": N}`
///
/// Declare `"GET /admin/queues"` plus `"GET /admin/queues/*"` and `"POST /admin/queues/*"`.
public struct QueuesAPIFunction: EdgeFunction, HeadAuthorizing {
    let tokenSecret: String

    public init(config: FunctionConfig) throws {
        tokenSecret = try config.secretName("token_secret")
    }

    /// The bearer token, checked from the head before any of the body is read.
    public func authorize(_ request: EdgeRequest, env: Env) throws {
        try request.requireBearer(try env.requiredSecret(tokenSecret))
    }

    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        try authorize(request, env: env)
        let segments = AdminPath(request).segments.filter { !$0.isEmpty }
        let queue = request.params["queue"] ?? segments.first
        let rest = request.params["queue"] != nil ? segments : Array(segments.dropFirst())
        switch (request.method, queue, rest) {
        case ("GET", nil, _):
            return try await list(env)
        case ("POST", let q?, ["messages"]):
            let message = try Self.outgoing(try request.json(), at: nil)
            let id = try await env.queues.send(message.body, to: q, delaySeconds: message.delaySeconds)
            return .json(["id": .string(id)], status: 202)
        case ("POST", let q?, ["messages", "batch"]):
            guard let messages = try request.json()["messages"]?.arrayValue else {
                throw EdgeHTTPError(.badRequest, "body must be {\"messages\": [ … ]}")
            }
            let outgoing = try messages.enumerated().map { try Self.outgoing($1, at: "messages[\($0)]") }
            let ids = try await env.queues.sendBatch(outgoing, to: q)
            return .json(["ids": .array(ids.map { .string($0) })], status: 202)
        case ("GET", let q?, ["messages"]):
            let limit =
                try request.queryParameter("limit").map {
                    try CheckedInteger.parse($0, field: "limit", in: 1...QueueLimits.maxPeekLimit)
                } ?? 100
            let deadLetters: Bool
            switch request.queryParameter("dead_letters") {
            case nil, "false"?: deadLetters = false
            case "true"?: deadLetters = true
            default: throw EdgeHTTPError(.badRequest, "dead_letters must be true or false")
            }
            let peeked = try await env.queues.peek(q, limit: limit, deadLetters: deadLetters)
            let body = "{\"messages\":[" + peeked.map(\.jsonLine).joined(separator: ",") + "]}"
            return EdgeResponse(status: 200, headers: ["Content-Type": "application/json"], body: Data(body.utf8))
        case ("POST", let q?, ["redrive"]):
            guard let to = try request.json()["to"]?.stringValue else { throw EdgeHTTPError(.badRequest, "body must be {\"to\": \"<queue>\"}") }
            let moved = try await env.queues.redrive(from: q, to: to)
            return .json(["moved": .integer(Int64(moved))])
        default:
            throw EdgeHTTPError(.notFound, "no such endpoint")
        }
    }

    private func list(_ env: Env) async throws -> EdgeResponse {
        let stats = try await env.queues.allStats()
        return .json(
            .array(
                stats.map { s in
                    .object([
                        "name": .string(s.name), "pending": .integer(Int64(s.pending)), "delayed": .integer(Int64(s.delayed)),
                        "in_flight": .integer(Int64(s.inFlight)), "dead_lettered": .integer(Int64(s.deadLettered)),
                    ])
                }
            )
        )
    }

    /// One message of a send: `{"body", "content_type": json|text|bytes, "delay_seconds"}`.
    /// - Parameter at: its JSON path in a batch (`messages[2]`), `nil` for a single send.
    static func outgoing(_ json: JSONValue, at field: String?) throws -> OutgoingMessage {
        let path = field ?? "request"
        guard let object = json.objectValue else { throw EdgeHTTPError(.badRequest, "\(path) must be an object") }
        guard let body = object["body"] else { throw EdgeHTTPError(.badRequest, "\(path).body is required") }
        let typeName: String?
        switch object["content_type"] {
        case nil, .null?: typeName = "json"
        case let value?: typeName = value.stringValue  // not a string: refused below, never taken as json
        }
        guard let type = typeName.flatMap(MessageContentType.init(rawValue:)) else {
            throw EdgeHTTPError(.badRequest, "\(path).content_type must be json, text or bytes")
        }
        var delay: Int?
        if let d = object["delay_seconds"], !d.isNull {
            let name = field.map { "\($0).delay_seconds" } ?? "delay_seconds"
            delay = Int(try d.integer(field: name, in: 0...Int64(QueueLimits.maxDelaySeconds)))
        }
        let data: Data
        switch type {
        case .json:
            data = body.serialized()
        case .text:
            guard let s = body.stringValue else { throw EdgeHTTPError(.badRequest, "\(path).body must be a string for content_type text") }
            data = Data(s.utf8)
        case .bytes:
            guard let s = body.stringValue, let bytes = Base64.decode(s) else {
                throw EdgeHTTPError(.badRequest, "\(path).body must be base64 for content_type bytes")
            }
            data = Data(bytes)
        }
        return OutgoingMessage(body: data, contentType: type, delaySeconds: delay)
    }
}

extension QueuesAPIFunction: OpenAPIDescribed {
    /// `GET <route>` lists the queues; a trailing-`*` route spells out `<route>/{queue}/messages`
    /// (GET: peek; POST: send), `<route>/{queue}/messages/batch` and `<route>/{queue}/redrive` (POST).
    public static func openAPIOperations(_ mount: OpenAPIMount) -> [OpenAPIOperation] {
        guard mount.hasWildcard || mount.hasParameter("queue") else {
            return mount.method == "GET" ? [list(at: mount.path)] : []
        }
        let base = mount.hasWildcard ? OpenAPIMount.join(mount.basePath, "/{queue}") : mount.path
        var operations: [OpenAPIOperation]
        switch mount.method {
        case "GET": operations = [peek(at: base + "/messages")]
        case "POST": operations = [send(at: base + "/messages"), sendBatch(at: base + "/messages/batch"), redrive(at: base + "/redrive")]
        default: operations = []
        }
        for i in operations.indices {
            operations[i].adminBearer = true
            operations[i].pathParameters["queue"] = OpenAPIMount.named("a queue of the manifest", oneOf: mount.declarations.queues)
        }
        return operations
    }

    static let messageSchema: JSONValue = {
        guard
            case .object(var schema) = OpenAPI.object(
                [
                    "body": ["description": "the message: any JSON (content_type json), a string (text) or base64 (bytes)"],
                    "content_type": ["type": ["string", "null"], "enum": ["json", "text", "bytes", nil], "description": "default json"],
                    "delay_seconds": ["type": ["integer", "null"], "minimum": 0, "maximum": .integer(Int64(QueueLimits.maxDelaySeconds))],
                ],
                required: ["body"]
            )
        else { return [:] }
        // A text or bytes message's body is a string (bytes: base64).
        schema["allOf"] = .array(
            ["text", "bytes"].map { type in
                [
                    "if": ["properties": ["content_type": ["const": .string(type)]], "required": ["content_type"]],
                    "then": ["properties": ["body": type == "bytes" ? ["type": "string", "contentEncoding": "base64"] : ["type": "string"]]],
                ]
            }
        )
        return .object(schema)
    }()

    private static func list(at path: String) -> OpenAPIOperation {
        var operation = OpenAPIOperation(method: "GET", path: path, summary: "List queues with their counts")
        let count = ["type": "integer", "minimum": 0] as JSONValue
        let queue = OpenAPI.object(
            ["name": OpenAPI.string, "pending": count, "delayed": count, "in_flight": count, "dead_lettered": count],
            required: ["name", "pending", "delayed", "in_flight", "dead_lettered"]
        )
        operation.responses["200"] = OpenAPI.jsonResponse("the queues", OpenAPI.array(queue))
        operation.adminBearer = true
        return operation
    }

    private static func peek(at path: String) -> OpenAPIOperation {
        var operation = OpenAPIOperation(method: "GET", path: path, summary: "Peek at messages without consuming them")
        operation.parameters = [
            OpenAPI.parameter("limit", in: "query", OpenAPI.integer(1...Int64(QueueLimits.maxPeekLimit)), description: "default 100"),
            OpenAPI.parameter(
                "dead_letters",
                in: "query",
                ["type": "string", "enum": ["true", "false"]],
                description: "true: the queue's built-in dead-letter store"
            ),
        ]
        let message = OpenAPI.object(
            [
                "id": OpenAPI.string, "body": OpenAPI.anyValue, "content_type": ["type": "string", "enum": ["json", "text", "bytes"]],
                "attempts": OpenAPI.integer, "timestamp": OpenAPI.string, "last_error": OpenAPI.string,
            ],
            required: ["id", "body", "content_type", "attempts", "timestamp"]
        )
        operation.responses["200"] = OpenAPI.jsonResponse(
            "the messages",
            OpenAPI.object(["messages": OpenAPI.array(message)], required: ["messages"])
        )
        operation.errors = [404]
        return operation
    }

    private static func send(at path: String) -> OpenAPIOperation {
        var operation = OpenAPIOperation(method: "POST", path: path, summary: "Send a message", description: "Durable before the answer; ≤ 128 KB.")
        operation.requestBody = OpenAPI.jsonBody(messageSchema)
        operation.responses["202"] = OpenAPI.jsonResponse("enqueued", OpenAPI.object(["id": OpenAPI.string], required: ["id"]))
        operation.errors = [404]
        return operation
    }

    private static func sendBatch(at path: String) -> OpenAPIOperation {
        var operation = OpenAPIOperation(method: "POST", path: path, summary: "Send 1–100 messages", description: "≤ 256 KB in all.")
        operation.requestBody = OpenAPI.jsonBody(
            OpenAPI.object(
                ["messages": OpenAPI.array(messageSchema, minItems: 1, maxItems: 100)],
                required: ["messages"]
            )
        )
        operation.responses["202"] = OpenAPI.jsonResponse("enqueued", OpenAPI.object(["ids": OpenAPI.array(OpenAPI.string)], required: ["ids"]))
        operation.errors = [404]
        return operation
    }

    private static func redrive(at path: String) -> OpenAPIOperation {
        var operation = OpenAPIOperation(
            method: "POST",
            path: path,
            summary: "Move dead-lettered messages back",
            description: "Moves the messages of `{queue}` (a dead-letter queue) to `to`, a queue of the manifest."
        )
        operation.requestBody = OpenAPI.jsonBody(OpenAPI.object(["to": OpenAPI.string], required: ["to"]))
        operation.responses["200"] = OpenAPI.jsonResponse("moved", OpenAPI.object(["moved": ["type": "integer", "minimum": 0]], required: ["moved"]))
        operation.errors = [404]
        return operation
    }
}
