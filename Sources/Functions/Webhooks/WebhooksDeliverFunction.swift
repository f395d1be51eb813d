import EdgeRuntime
import Foundation
import Logging
import Queues

/// `webhooks.deliver`: a queue consumer that POSTs each message body to `config.url`, signed
/// `X-Webhook-Signature: <lowercase hex HMAC-SHA256 of the exact bytes sent>` keyed with the
/// UTF-8 value of the secret named by `signing_secret`. A 2xx answer acks the message; any
/// other answer, a timeout or a connection error retries it per the queue's `retry_delay`
/// (and, after `max_retries`, dead-letters it), with what failed as the message's `last_error`:
/// `receiver answered 503`, or `POST <url>: <the connection error>`.
public struct WebhooksDeliverFunction: EdgeFunction {
    public static var kinds: FunctionKinds { .queue }

    let url: String
    let signingSecret: String
    let timeoutSeconds: Double

    public init(config: FunctionConfig) throws {
        url = try config.requiredString("url")
        guard let parsed = URL(string: url), let scheme = parsed.scheme, ["http", "https"].contains(scheme), parsed.host != nil else {
            throw FunctionConfigError("url", "must be an absolute http or https URL")
        }
        signingSecret = try config.secretName("signing_secret")
        timeoutSeconds = try config.double("timeout_seconds", default: 10, in: 0.1...300)
    }

    public func queue(_ batch: MessageBatch, env: Env) async throws {
        let key = Array(try env.requiredSecret(signingSecret).utf8)
        await withTaskGroup(of: Void.self) { group in
            for message in batch.messages {
                group.addTask { await deliver(message, key: key, env: env) }
            }
        }
    }

    private func deliver(_ message: Message, key: [UInt8], env: Env) async {
        let body = Array(message.body.data)
        var request = FetchRequest(method: "POST", url: url, body: body)
        request.headers["Content-Type"] = Self.contentType(message.body.contentType)
        request.headers["X-Webhook-Signature"] = Hex.encode(Crypto.hmacSHA256(key: key, data: body))
        request.headers["X-Webhook-Id"] = message.id
        request.headers["X-Webhook-Attempt"] = String(message.attempts)
        request.timeout = .milliseconds(Int64(timeoutSeconds * 1000))
        request.maxAttempts = 1  // the queue owns retries
        do {
            let response = try await env.fetch(request)
            if response.ok {
                message.ack()
            } else {
                env.logger.warning("webhook delivery refused", metadata: ["id": "\(message.id)", "status": "\(response.status)"])
                message.retry(reason: "receiver answered \(response.status)")
            }
        } catch {
            env.logger.warning("webhook delivery failed", metadata: ["id": "\(message.id)", "error": "\(error)"])
            message.retry(reason: "POST \(url): \(error)")
        }
    }

    static func contentType(_ type: MessageContentType) -> String {
        switch type {
        case .json: "application/json"
        case .text: "text/plain; charset=utf-8"
        case .bytes: "application/octet-stream"
        }
    }
}
