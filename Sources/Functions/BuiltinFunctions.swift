import EdgeRuntime
import WasmFunctions

/// The built-in handler catalogue of the stock `edge-run` binary.
public enum BuiltinFunctions {
    /// Registers every built-in handler in `registry`.
    public static func register(into registry: FunctionRegistry) {
        registry.register("kv.api", KVAPIFunction.self)
        registry.register("queues.api", QueuesAPIFunction.self)
        registry.register("webhooks.deliver", WebhooksDeliverFunction.self)
        registry.register("cron.enqueue", CronEnqueueFunction.self)
        registry.register("clerk.webhook", ClerkWebhookFunction.self)
        registry.register("supabase.webhook", SupabaseWebhookFunction.self)
        registry.register("auth.events", AuthEventsFunction.self)
        registry.register("auth.whoami", WhoAmIFunction.self)
        registry.register("resend.send", ResendSendFunction.self)
        registry.register("resend.batch", ResendBatchFunction.self)
        registry.register("resend.webhook", ResendWebhookFunction.self)
        registry.register("twilio.sms", TwilioSMSFunction.self)
        registry.register("twilio.status", TwilioStatusFunction.self)
        registry.register("mixpanel.track", MixpanelTrackFunction.self)
        registry.register("mixpanel.engage", MixpanelEngageFunction.self)
        registry.register("posthog.capture", PostHogCaptureFunction.self)
        registry.register("posthog.flags", PostHogFlagsFunction.self)
        registry.register("analytics.retry", AnalyticsRetryFunction.self)
        registry.register("stripe.webhook", StripeWebhookFunction.self)
        registry.register("stripe.events", StripeEventsFunction.self)
        registry.register("stripe.payment_intent", StripePaymentIntentFunction.self)
        registry.register("wasm", WasmFunction.self)
    }

    /// A registry holding the built-in catalogue.
    public static func registry() -> FunctionRegistry {
        let registry = FunctionRegistry()
        register(into: registry)
        return registry
    }
}
