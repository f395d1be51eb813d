import EdgeRuntime
import KVStore
import Logging

/// Verifies a Svix / Standard Webhooks delivery (`svix-*` or `webhook-*` headers, ±5 minutes)
/// with the secret named `secretName`: the one place the Svix-signed handlers (`clerk.webhook`,
/// `supabase.webhook`, `resend.webhook`) turn a verification failure into an answer.
enum SvixWebhook {
    /// - Returns: the verified delivery's id and timestamp.
    /// - Throws: 400 `invalid webhook signature: <reason>` for a missing, malformed, wrong or stale
    ///   signature; 500 when the configured secret itself is not `whsec_` + base64 (a server
    ///   misconfiguration, logged, not the sender's fault).
    static func verify(_ request: EdgeRequest, env: Env, secretName: String) throws -> StandardWebhookSignature.Verified {
        let secret = try env.requiredSecret(secretName)
        do {
            return try StandardWebhookSignature.verify(
                payload: request.body,
                headers: .init(lookup: { request.headers[$0] }),
                secret: secret,
                now: env.clock.nowSeconds()
            )
        } catch let error where error.code == .invalidSecret {
            env.logger.error("webhook secret is not whsec_ followed by base64", metadata: ["secret": "\(secretName)"])
            throw EdgeHTTPError(.internalError, "server misconfigured")
        } catch {
            throw EdgeHTTPError(.badRequest, "invalid webhook signature: \(error.message)")
        }
    }
}
