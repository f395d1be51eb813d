import EdgeRuntime
import Foundation
import KVStore
import Logging
import Queues

/// `resend.batch`: the email queue's consumer. Renders each message's template, groups the
/// batch by template and sends each group with `POST {RESEND_API_BASE}/emails/batch` (at most
/// 100 emails a call, `from` = `FROM_EMAIL`, `Authorization: Bearer <RESEND_API_KEY>`, an
/// `Idempotency-Key` derived from the message ids), then logs every sent email in KV
/// `email:<id>`.
///
/// Each message's fate: a message that cannot become an email (bad shape, unknown template) is
/// dead-lettered at once; a call Resend refuses as invalid (400, 413, 422) dead-letters its
/// messages; a 429 retries its messages, and every group not yet sent, after `Retry-After`;
/// any other failure retries the call's messages after `retry_delay` (300 s). Retries of the
/// same messages repeat the idempotency key, so Resend never sends an email twice.
public struct ResendBatchFunction: EdgeFunction {
    public static var kinds: FunctionKinds { .queue }

    static let apiKeySecret = "RESEND_API_KEY"
    static let defaultAPIBase = "https://api.resend.com"

    let kvBinding: String
    let templates: EmailTemplates
    let retryDelay: Int
    let from: String

    public init(config: FunctionConfig) throws {
        kvBinding = try config.kvBinding()
        templates = try EmailTemplates(config: config)
        retryDelay = try config.int("retry_delay", default: 300, in: 0...QueueLimits.maxDelaySeconds)
        try config.requireSecret(Self.apiKeySecret)
        guard let from = config.declarations.vars["FROM_EMAIL"] else {
            throw FunctionConfigError(nil, "this handler needs var \"FROM_EMAIL\" (the sender, e.g. \"Shop <noreply@example.com>\")")
        }
        guard EmailAddress.isValid(from) else {
            throw FunctionConfigError(nil, "var FROM_EMAIL is not a valid sender address")
        }
        self.from = from
    }

    /// One message ready to send.
    struct Prepared {
        let message: Message
        let email: EmailRequest
        /// The email object of Resend's batch body.
        let payload: ResendEmail
    }

    /// One email of `POST /emails/batch` (keys in sorted order, as the rest of edge-run's JSON).
    struct ResendEmail: Encodable {
        let from: String
        let html: String
        let subject: String
        let tags: [EmailTag]?
        let to: [String]
    }

    public func queue(_ batch: MessageBatch, env: Env) async throws {
        let apiKey = try env.requiredSecret(Self.apiKeySecret)
        var base = env.variable("RESEND_API_BASE") ?? Self.defaultAPIBase
        while base.hasSuffix("/") { base.removeLast() }
        let prepared = batch.messages.compactMap { prepare($0, env: env) }
        var rateLimitedFor: Int?
        for call in ResendBatchPlan.calls(prepared, groupedBy: \.email.template) {
            if let delay = rateLimitedFor {
                for item in call { item.message.retry(delaySeconds: delay) }
                continue
            }
            let outcome = await send(call, url: base + "/emails/batch", apiKey: apiKey, env: env)
            switch outcome {
            case .sent(let ids):
                for item in call { item.message.ack() }
                await record(call, ids: ids, env: env)
            case .retry(let delay, let reason, let rateLimited):
                env.logger.warning("resend batch will be retried", metadata: ["emails": "\(call.count)", "delay": "\(delay)", "reason": "\(reason)"])
                for item in call { item.message.retry(delaySeconds: delay, reason: reason) }
                if rateLimited { rateLimitedFor = delay }
            case .deadLetter(let reason):
                env.logger.error("resend batch refused", metadata: ["emails": "\(call.count)", "reason": "\(reason)"])
                for item in call { item.message.deadLetter(reason: reason) }
            }
        }
    }

    /// Validates and renders one message; dead-letters it (and returns `nil`) when it cannot be sent.
    private func prepare(_ message: Message, env: Env) -> Prepared? {
        do {
            let email = try EmailRequest.parse(json: message.body.data, knownTemplates: templates.names)
            guard let html = templates.render(email.template, data: email.data) else {
                throw EmailValidationError("unknown template \"\(email.template)\"", unknownTemplate: true)
            }
            let payload = ResendEmail(from: from, html: html, subject: email.subject, tags: email.tags.isEmpty ? nil : email.tags, to: email.to)
            return Prepared(message: message, email: email, payload: payload)
        } catch {
            env.logger.error("email dead-lettered", metadata: ["message": "\(message.id)", "reason": "\(error)"])
            message.deadLetter(reason: "\(error)")
            return nil
        }
    }

    /// Sends one call; transport failures become a retry after `retry_delay`.
    private func send(_ call: [Prepared], url: String, apiKey: String, env: Env) async -> ResendBatchPlan.Outcome {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var request = FetchRequest(method: "POST", url: url, body: Array((try? encoder.encode(call.map(\.payload))) ?? Data("[]".utf8)))
        request.headers["Authorization"] = "Bearer \(apiKey)"
        request.headers["Content-Type"] = "application/json"
        request.headers["Idempotency-Key"] = ResendBatchPlan.idempotencyKey(messageIDs: call.map(\.message.id))
        do {
            let response = try await env.fetch(request)
            return ResendBatchPlan.outcome(of: response, retryDelay: retryDelay, now: env.clock.now())
        } catch {
            return .retry(delaySeconds: retryDelay, reason: "Resend unreachable: \(error)", rateLimited: false)
        }
    }

    /// Logs the sent emails in KV `email:<id>`, keeping what a webhook may already have written.
    /// A failure to log is only logged: the emails are sent, and retrying would not resend them anyway.
    private func record(_ call: [Prepared], ids: [String], env: Env) async {
        if ids.count != call.count {
            env.logger.warning("Resend returned \(ids.count) ids for \(call.count) emails")
        }
        guard let kv = try? env.kv(kvBinding) else { return }
        let now = ISO8601Millis.format(Date(timeIntervalSince1970: env.clock.now()))
        await withTaskGroup(of: Void.self) { group in
            for (item, id) in zip(call, ids) {
                group.addTask {
                    do {
                        try await kv.updateRecord("email:\(id)") { existing in
                            var record = existing ?? [:]
                            record["id"] = .string(id)
                            record["to"] = .array(item.email.to.map(JSONValue.string))
                            record["subject"] = .string(item.email.subject)
                            record["template"] = .string(item.email.template)
                            record["message_id"] = .string(item.message.id)
                            record["sent_at"] = .string(now)
                            if record["status"] == nil { record["status"] = "sent" }
                            if record["updated_at"] == nil { record["updated_at"] = .string(now) }
                            return record
                        }
                    } catch {
                        env.logger.error("could not log a sent email", metadata: ["id": "\(id)", "error": "\(error)"])
                    }
                }
            }
        }
    }
}
