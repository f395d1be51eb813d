import EdgeRuntime
import Foundation
import Queues

/// `resend.send`: validates `POST {to, subject, template, data, tags}` and enqueues the email on
/// `config.queue` for `resend.batch`; answers 202 `{id}` (the queue message id) once the message
/// is durable, 400 naming the field at fault otherwise.
///
/// The template names it accepts are those of the function that consumes its queue when that is
/// a `resend.batch` (its built-ins, `templates_dir` and `templates`), so the config needs only
/// `queue`. With another consumer (or none) any name is accepted; the consumer decides (an
/// unknown one goes to the dead-letter queue at batch time). A config that still gives its own
/// `templates` / `templates_dir` (the older way) is honoured: then those are the known ones.
public struct ResendSendFunction: EdgeFunction {
    let queue: String
    /// The template names a request may use; `nil`: any.
    let knownTemplates: Set<String>?

    public init(config: FunctionConfig) throws {
        let queue = try config.queue("queue")!
        self.queue = queue
        knownTemplates = try Self.knownTemplates(config: config, queue: queue)
    }

    /// The template names of this function's own `templates` keys, else of its queue's
    /// `resend.batch` consumer, else `nil` (any name).
    /// - Throws: ``FunctionConfigError`` for this function's own bad templates.
    static func knownTemplates(config: FunctionConfig, queue: String) throws -> Set<String>? {
        if config["templates"] != nil || config["templates_dir"] != nil {
            return try EmailTemplates(config: config).names
        }
        guard let consumer = config.declarations.queueConsumers[queue], consumer.handler == "resend.batch" else { return nil }
        let consumerConfig = FunctionConfig(functionName: consumer.name, values: consumer.config, declarations: config.declarations)
        // A consumer whose templates do not compile is reported against that consumer itself.
        return (try? EmailTemplates(config: consumerConfig))?.names
    }

    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        let email: EmailRequest
        do { email = try EmailRequest.parse(json: request.body, knownTemplates: knownTemplates) } catch {
            throw EdgeHTTPError(.badRequest, error.message)
        }
        let id = try await env.queue(queue).send(body: email.serialized, contentType: .json)
        return .json(["id": .string(id)], status: 202)
    }
}

extension ResendSendFunction: OpenAPIDescribed {
    public static func openAPIOperations(_ mount: OpenAPIMount) -> [OpenAPIOperation] {
        var operation = mount.operation(summary: "Queue an email", description: "Rendered and sent in batches by the queue's consumer.")
        let address: JSONValue = ["type": "string", "format": "email", "minLength": 3]
        operation.requestBody = OpenAPI.jsonBody(
            OpenAPI.object(
                [
                    "to": ["oneOf": [address, OpenAPI.array(address, minItems: 1)]],
                    "subject": ["type": "string", "minLength": 1], "template": ["type": "string", "minLength": 1],
                    "data": ["type": ["object", "null"]], "tags": ["type": ["array", "object"]],
                ],
                required: ["to", "subject", "template"]
            )
        )
        operation.responses["202"] = OpenAPI.jsonResponse("queued", OpenAPI.object(["id": OpenAPI.string], required: ["id"]))
        operation.errors = [400]
        return [operation]
    }
}
