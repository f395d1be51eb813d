import EdgeRuntime
import Foundation
import KVStore
import Logging
import Queues

/// `clerk.webhook` and `supabase.webhook`: verify a Svix / Standard Webhooks signature on the raw
/// body (`svix-*` or `webhook-*` headers, ±5 minutes), enqueue `{type, data, timestamp}` (the
/// timestamp of the signature header, ISO 8601), and acknowledge a replayed id without
/// enqueueing it again.
///
/// The delivery id is claimed with the shared two-state ``WebhookIntake`` (pending with a lease
/// → enqueued) under `replay:<function>:<id>` in the runtime's private namespace, kept 7 days: a
/// crash between the claim and the enqueue leaves a `pending` claim that the provider's re-send
/// takes over once its lease (`pending_lease_seconds`, 60) is over.
struct SignedAuthWebhook: Sendable {
    enum Provider: Sendable { case clerk, supabase }

    let provider: Provider
    let queue: String
    let secretName: String
    let scope: String
    let intake: WebhookIntake

    /// The secret holding the provider's `whsec_…` signing secret.
    static func secretName(for provider: Provider) -> String {
        provider == .clerk ? "CLERK_WEBHOOK_SECRET" : "SUPABASE_WEBHOOK_SECRET"
    }

    init(provider: Provider, config: FunctionConfig) throws {
        self.provider = provider
        queue = try config.queue("queue")!
        secretName = Self.secretName(for: provider)
        try config.requireSecret(secretName)
        scope = config.functionName
        intake = WebhookIntake(
            dedupeTTL: 7 * 86_400,
            pendingLease: Int64(try config.int("pending_lease_seconds", default: 60, in: 1...86_400))
        )
    }

    /// The marker key of delivery `id` (in the runtime's private namespace).
    func markerKey(_ id: String) -> String { WebhookIntake.markerKey(prefix: "replay:\(scope):", id: id) }

    func handle(_ request: EdgeRequest, env: Env) async throws -> EdgeResponse {
        let verified = try SvixWebhook.verify(request, env: env, secretName: secretName)
        let body = try request.json()
        let event: JSONValue
        switch provider {
        case .clerk:
            guard let type = body["type"]?.stringValue else { throw EdgeHTTPError(.badRequest, "webhook body has no type") }
            event = ["type": .string(type), "data": body["data"] ?? .null, "timestamp": .string(Self.iso(verified.timestamp))]
        case .supabase:
            event = [
                "type": .string(body["type"]?.stringValue ?? "supabase.hook"), "data": body,
                "timestamp": .string(Self.iso(verified.timestamp)),
            ]
        }
        guard let markers = env.internalKV else { throw EdgeHTTPError(.internalError, "server misconfigured") }
        let queue = try env.queue(self.queue)
        let outcome = try await intake.receive(markerKey(verified.id), kv: markers, clock: env.clock) {
            try await queue.send(body: event.serialized(), contentType: .json)
        }
        if outcome == .duplicate {
            env.logger.info("webhook replay acknowledged", metadata: ["id": "\(verified.id)", "function": "\(scope)"])
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

extension ClerkWebhookFunction: OpenAPIDescribed {
    public static func openAPIOperations(_ mount: OpenAPIMount) -> [OpenAPIOperation] {
        WebhookOpenAPI.intake(
            mount,
            summary: "Clerk webhook (Svix-signed, enqueued as {type, data, timestamp})",
            headers: WebhookOpenAPI.svixHeaders,
            event: OpenAPI.object(["type": OpenAPI.string, "data": OpenAPI.anyValue], required: ["type"])
        )
    }
}

extension SupabaseWebhookFunction: OpenAPIDescribed {
    public static func openAPIOperations(_ mount: OpenAPIMount) -> [OpenAPIOperation] {
        WebhookOpenAPI.intake(
            mount,
            summary: "Supabase webhook (Standard Webhooks, enqueued as {type, data, timestamp})",
            headers: WebhookOpenAPI.svixHeaders,
            event: OpenAPI.object(["type": OpenAPI.string])
        )
    }
}
