import EdgeRuntime
import EdgeTestSupport
import Foundation
import Testing

/// `resend.send` with only `queue` in its config (the contract): it knows the templates of the
/// `resend.batch` that consumes its queue, and accepts any name for another consumer.
@Suite("resend.send templates come from its queue's consumer")
struct ResendSendTemplatesTests {
    static func manifest(consumer: JSONValue, sendConfig: JSONValue = ["queue": "emails"]) -> JSONValue {
        [
            "vars": ["RESEND_API_BASE": "http://127.0.0.1:9", "FROM_EMAIL": .string(ResendTests.from)],
            "secrets": ["RESEND_API_KEY", "RESEND_WEBHOOK_SECRET", "ADMIN_TOKEN"],
            "kv_namespaces": [["binding": "KV"]],
            "queues": [["name": "emails", "consumer": ["function": "email-consumer", "max_batch_size": 100, "max_batch_timeout": 60]]],
            "functions": [
                ["name": "send", "handler": "resend.send", "routes": ["POST /emails"], "config": sendConfig],
                consumer,
            ],
        ]
    }

    static func status(_ s: RunningServer, template: String) async throws -> (Int, String) {
        let r = try await s.client.request("POST", "/emails", json: ResendTests.email(template))
        return (r.status, r.json["error"]?.stringValue ?? "")
    }

    @Test func theConsumingBatchFunctionsTemplatesAreKnown() async throws {
        let batch: JSONValue = [
            "name": "email-consumer", "handler": "resend.batch",
            "config": ["templates": ["signup": "<p>Hi {{name}}</p>"], "templates_dir": "templates"],
        ]
        let s = try await RunningServer.start(
            manifest: Self.manifest(consumer: batch),
            secrets: ResendTests.secrets,
            data: ResendTests.dataWithTemplates()
        )
        #expect(try await Self.status(s, template: "signup").0 == 202)  // the consumer's `templates`
        #expect(try await Self.status(s, template: "receipt").0 == 202)  // its `templates_dir`
        #expect(try await Self.status(s, template: "welcome").0 == 202)  // a built-in
        let unknown = try await Self.status(s, template: "nope")
        #expect(unknown.0 == 400)
        #expect(unknown.1 == "unknown template \"nope\"")
        try await s.stopAndClean()
    }

    @Test func anotherConsumerDecidesSoAnyNameIsAccepted() async throws {
        let deliver: JSONValue = [
            "name": "email-consumer", "handler": "webhooks.deliver",
            "config": ["url": "http://127.0.0.1:9/hook", "signing_secret": "ADMIN_TOKEN"],
        ]
        let s = try await RunningServer.start(manifest: Self.manifest(consumer: deliver), secrets: ResendTests.secrets)
        #expect(try await Self.status(s, template: "anything-goes").0 == 202)
        try await s.stopAndClean()
    }

    @Test func templatesInTheSendConfigStillWork() async throws {
        let batch: JSONValue = ["name": "email-consumer", "handler": "resend.batch", "config": ["templates": ["signup": "x"]]]
        let s = try await RunningServer.start(
            manifest: Self.manifest(consumer: batch, sendConfig: ["queue": "emails", "templates": ["legacy": "<p>{{x}}</p>"]]),
            secrets: ResendTests.secrets
        )
        #expect(try await Self.status(s, template: "legacy").0 == 202)
        #expect(try await Self.status(s, template: "welcome").0 == 202)
        #expect(try await Self.status(s, template: "signup").0 == 400)
        try await s.stopAndClean()
    }
}
