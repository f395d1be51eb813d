import EdgeRuntime

/// The OpenAPI pieces the signed-webhook handlers share.
enum WebhookOpenAPI {
    /// Svix / Standard Webhooks headers: `svix-id`, `svix-timestamp`, `svix-signature`, or the
    /// same names with `webhook-` (one of the two sets is required).
    static let svixHeaders: [JSONValue] = ["id", "timestamp", "signature"].flatMap { part in
        ["svix", "webhook"].map { prefix in
            OpenAPI.parameter(
                "\(prefix)-\(part)",
                in: "header",
                description: "Svix / Standard Webhooks \(part) (either the svix-* or the webhook-* set is required)"
            )
        }
    }

    /// A signed webhook's intake: POST the provider's JSON event, answered 200 `{"received":true}`.
    static func intake(_ mount: OpenAPIMount, summary: String, headers: [JSONValue], event: JSONValue, errors: Set<Int> = [400]) -> [OpenAPIOperation]
    {
        var operation = mount.operation(summary: summary, description: "The signature is verified over the raw body.")
        operation.parameters = headers
        operation.requestBody = OpenAPI.jsonBody(event)
        operation.responses["200"] = OpenAPI.jsonResponse("accepted (also a replay of an accepted delivery)", OpenAPI.received)
        operation.errors = errors
        return [operation]
    }
}
