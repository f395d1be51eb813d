import EdgeRuntime

/// The built-in handler catalogue of the stock `edge-run` binary.
public enum BuiltinFunctions {
    /// Registers every built-in handler in `registry`.
    public static func register(into registry: FunctionRegistry) {
        registry.register("kv.api", KVAPIFunction.self)
        registry.register("queues.api", QueuesAPIFunction.self)
        registry.register("webhooks.deliver", WebhooksDeliverFunction.self)
        registry.register("cron.enqueue", CronEnqueueFunction.self)
        registry.register("stripe.webhook", StripeWebhookFunction.self)
        registry.register("stripe.events", StripeEventsFunction.self)
        registry.register("stripe.payment_intent", StripePaymentIntentFunction.self)
    }

    /// A registry holding the built-in catalogue.
    public static func registry() -> FunctionRegistry {
        let registry = FunctionRegistry()
        register(into: registry)
        return registry
    }
}
