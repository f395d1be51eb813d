import EdgeRuntime
import Foundation
import Queues

/// `resend.send`: validates `POST {to, subject, template, data, tags}` and enqueues the email on
/// `config.queue` for `resend.batch`; answers 202 `{id}` (the queue message id) once the message
/// is durable, 400 naming the field at fault otherwise.
///
/// The known templates are the built-ins plus this function's own optional `templates` /
/// `templates_dir` (the same keys as `resend.batch`: give both functions the same values).
public struct ResendSendFunction: EdgeFunction {
    let queue: String
    let templates: EmailTemplates

    public init(config: FunctionConfig) throws {
        queue = try config.queue("queue")!
        templates = try EmailTemplates(config: config)
    }

    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        let email: EmailRequest
        do { email = try EmailRequest.parse(json: request.body, knownTemplates: templates.names) } catch {
            throw EdgeHTTPError(.badRequest, error.message)
        }
        let id = try await env.queue(queue).send(body: email.serialized, contentType: .json)
        return .json(["id": .string(id)], status: 202)
    }
}
