import EdgeRuntime
import EdgeTestSupport
import Foundation
import Testing

/// `queues.api` exactly as docs/queues.md says.
@Suite("queues.api admin REST")
struct QueuesAPITests {
    static let token = "queue-admin-token"
    static let auth = ["Authorization": "Bearer \(token)"]
    static let manifest: JSONValue = [
        "secrets": ["ADMIN_TOKEN"],
        "queues": [["name": "jobs"], ["name": "jobs-dlq"]],
        "functions": [
            [
                "name": "queues-admin", "handler": "queues.api",
                "routes": ["GET /admin/queues", "GET /admin/queues/*", "POST /admin/queues/*"],
                "config": ["token_secret": "ADMIN_TOKEN"],
            ]
        ],
    ]

    @Test func sendPeekListAndRedrive() async throws {
        let s = try await RunningServer.start(manifest: Self.manifest, secrets: ["ADMIN_TOKEN": Self.token])
        let c = s.client
        let one = try await c.request("POST", "/admin/queues/jobs/messages", headers: Self.auth, json: ["body": ["order": 7]])
        #expect(one.status == 202)
        let id = try #require(one.json["id"]?.stringValue)
        let batch = try await c.request(
            "POST",
            "/admin/queues/jobs/messages/batch",
            headers: Self.auth,
            json: [
                "messages": [
                    ["body": "plain", "content_type": "text"], ["body": "AAEC", "content_type": "bytes"],
                    ["body": ["later": true], "delay_seconds": 600],
                ]
            ]
        )
        #expect(batch.status == 202)
        #expect(batch.json["ids"]?.arrayValue?.count == 3)

        let list = try await c.get("/admin/queues", headers: Self.auth)
        #expect(list.status == 200)
        let jobs = list.json.arrayValue?.first { $0["name"] == "jobs" }
        #expect(jobs?["pending"] == 3)
        #expect(jobs?["delayed"] == 1)
        #expect(jobs?["in_flight"] == 0)
        #expect(jobs?["dead_lettered"] == 0)

        let peek = try await c.get("/admin/queues/jobs/messages?limit=2", headers: Self.auth)
        let messages = try #require(peek.json["messages"]?.arrayValue)
        #expect(messages.count == 2)
        #expect(messages[0]["id"]?.stringValue == id)
        #expect(messages[0]["body"] == ["order": 7])
        #expect(messages[0]["content_type"] == "json")
        #expect(messages[1]["body"] == "plain")
        #expect(messages[0]["timestamp"]?.stringValue?.hasSuffix("Z") == true)
        // Peeking consumed nothing.
        #expect(try await c.get("/admin/queues/jobs/messages", headers: Self.auth).json["messages"]?.arrayValue?.count == 4)

        let moved = try await c.request("POST", "/admin/queues/jobs/redrive", headers: Self.auth, json: ["to": "jobs-dlq"])
        #expect(moved.status == 200)
        #expect(moved.json["moved"]?.intValue ?? 0 >= 3)
        try await s.stopAndClean()
    }

    @Test func badRequestsGetTheContractStatuses() async throws {
        let s = try await RunningServer.start(manifest: Self.manifest, secrets: ["ADMIN_TOKEN": Self.token])
        let c = s.client
        #expect(try await c.get("/admin/queues").status == 401)
        #expect(try await c.request("POST", "/admin/queues/nope/messages", headers: Self.auth, json: ["body": 1]).status == 404)
        #expect(try await c.request("POST", "/admin/queues/jobs/messages", headers: Self.auth, json: ["content_type": "json"]).status == 400)
        #expect(
            try await c.request("POST", "/admin/queues/jobs/messages", headers: Self.auth, json: ["body": 1, "content_type": "xml"]).status == 400
        )
        #expect(
            try await c.request("POST", "/admin/queues/jobs/messages", headers: Self.auth, json: ["body": 1, "delay_seconds": 86_401]).status == 400
        )
        #expect(try await c.request("POST", "/admin/queues/jobs/messages", headers: Self.auth, json: ["body": 1, "delay_seconds": -1]).status == 400)
        #expect(try await c.request("POST", "/admin/queues/jobs/messages", headers: Self.auth, body: Data("{not json".utf8)).status == 400)
        let big = String(repeating: "x", count: 128 * 1024 + 1)
        #expect(
            try await c.request("POST", "/admin/queues/jobs/messages", headers: Self.auth, json: ["body": .string(big), "content_type": "text"])
                .status == 413
        )
        let tooMany = JSONValue.array((0...100).map { _ in ["body": 1] })
        #expect(try await c.request("POST", "/admin/queues/jobs/messages/batch", headers: Self.auth, json: ["messages": tooMany]).status == 400)
        let heavy = JSONValue.array((0..<3).map { _ in ["body": .string(String(repeating: "y", count: 100 * 1024)), "content_type": "text"] })
        #expect(try await c.request("POST", "/admin/queues/jobs/messages/batch", headers: Self.auth, json: ["messages": heavy]).status == 413)
        #expect(try await c.request("POST", "/admin/queues/jobs/redrive", headers: Self.auth, json: ["to": "nope"]).status == 404)
        try await s.stopAndClean()
    }

    /// Found by scripts/test-openapi (schemathesis): a `content_type` that is not a string was
    /// taken as `json`, and `dead_letters=<anything>` as `false`.
    @Test func aContentTypeThatIsNotAStringAndAnUnknownDeadLettersValueAre400() async throws {
        let s = try await RunningServer.start(manifest: Self.manifest, secrets: ["ADMIN_TOKEN": Self.token])
        let c = s.client
        for contentType: JSONValue in [[:], 1, true, ["json"]] {
            let one = try await c.request("POST", "/admin/queues/jobs/messages", headers: Self.auth, json: ["body": 1, "content_type": contentType])
            #expect(one.status == 400, "content_type \(contentType.serializedString)")
            #expect(one.json["error"] == "request.content_type must be json, text or bytes")
            let batch = try await c.request(
                "POST",
                "/admin/queues/jobs/messages/batch",
                headers: Self.auth,
                json: ["messages": [["body": 1, "content_type": contentType]]]
            )
            #expect(batch.status == 400)
        }
        // null still means the default (json).
        #expect(try await c.request("POST", "/admin/queues/jobs/messages", headers: Self.auth, json: ["body": 1, "content_type": nil]).status == 202)
        for value in ["null", "yes", "1", ""] {
            let peek = try await c.get("/admin/queues/jobs/messages?dead_letters=\(value)", headers: Self.auth)
            #expect(peek.status == 400, "dead_letters=\(value)")
            #expect(peek.json["error"] == "dead_letters must be true or false")
        }
        #expect(try await c.get("/admin/queues/jobs/messages?dead_letters=false", headers: Self.auth).status == 200)
        #expect(try await c.get("/admin/queues/jobs/messages?dead_letters=true", headers: Self.auth).status == 200)
        try await s.stopAndClean()
    }
}
