import EdgeRuntime
import Foundation
import KVStore
import Logging
import Queues

/// `clerk.webhook` and `supabase.webhook`: verify a Svix / Standard Webhooks signature on the raw
/// body (`svix-*` or `webhook-*` headers, ±5 minutes), acknowledge a replayed id once, and
/// enqueue `{type, data, timestamp}` (the timestamp of the signature header, ISO 8601).
struct SignedAuthWebhook: Sendable {
    enum Provider: Sendable { case clerk, supabase }

    let provider: Provider
    let queue: String
    let secretName: String
    let scope: String

    init(provider: Provider, config: FunctionConfig) throws {
        self.provider = provider
        queue = try config.queue("queue")!
        secretName = provider == .clerk ? "CLERK_WEBHOOK_SECRET" : "SUPABASE_WEBHOOK_SECRET"
        try config.requireSecret(secretName)
        scope = config.functionName
    }

    func handle(_ request: EdgeRequest, env: Env) async throws -> EdgeResponse {
        let verified = try SvixWebhook.verify(request, env: env, secretName: secretName)
        let body = try request.json()
        guard try await env.firstDelivery(scope: scope, id: verified.id) else {
            env.logger.info("webhook replay acknowledged", metadata: ["id": "\(verified.id)", "function": "\(scope)"])
            return .json(["received": true])
        }
        let event: JSONValue
        switch provider {
        case .clerk:
            guard let type = body["type"]?.stringValue else { throw EdgeHTTPError(.badRequest, "webhook body has no type") }
            event = ["type": .string(type), "data": body["data"] ?? .null, "timestamp": .string(Self.iso(verified.timestamp))]
        case .supabase:
            event = ["type": .string(body["type"]?.stringValue ?? "supabase.hook"), "data": body,
                     "timestamp": .string(Self.iso(verified.timestamp))]
        }
        do {
            _ = try await env.queue(queue).send(body: event.serialized(), contentType: .json)
        } catch {
            // Not enqueued: let the provider's retry deliver it again.
            try? await env.internalKV?.delete("replay:\(scope):\(verified.id)")
            throw error
        }
        return .json(["received": true])
    }

    static func iso(_ unixSeconds: Int64) -> String {
        ISO8601Millis.format(Date(timeIntervalSince1970: Double(unixSeconds)))
    }
}

/// `clerk.webhook`: Svix-signed Clerk events into a queue.
public struct ClerkWebhookFunction: EdgeFunction {
    let intake: SignedAuthWebhook
    public init(config: FunctionConfig) throws { intake = try SignedAuthWebhook(provider: .clerk, config: config) }
    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        try await intake.handle(request, env: env)
    }
}

/// `supabase.webhook`: Standard-Webhooks-signed Supabase hooks into a queue.
public struct SupabaseWebhookFunction: EdgeFunction {
    let intake: SignedAuthWebhook
    public init(config: FunctionConfig) throws { intake = try SignedAuthWebhook(provider: .supabase, config: config) }
    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        try await intake.handle(request, env: env)
    }
}
