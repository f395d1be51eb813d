import EdgeCore
import EdgeRuntime
import EdgeTestSupport
import Foundation
import Queues
import Testing

/// The local console (`/_edge/console`) and its API (`/_edge/api/…`) on a real server.
@Suite("Console", .serialized)
struct ConsoleTests {
    static let token = "console-token"
    static let auth = ["Authorization": "Bearer \(token)"]

    static func manifest(extra: [String: JSONValue] = [:]) -> JSONValue {
        var m: [String: JSONValue] = [
            "name": "console-tests",
            "secrets": ["ADMIN_TOKEN"],
            "kv_namespaces": [["binding": "KV"], ["binding": "CACHE"]],
            "queues": [
                ["name": "jobs", "consumer": ["function": "deliver", "dead_letter_queue": "jobs-dlq"]],
                ["name": "jobs-dlq"], ["name": "digests"],
            ],
            "functions": [
                [
                    "name": "kv-admin", "handler": "kv.api", "routes": ["GET /admin/kv/*", "PUT /admin/kv/*"],
                    "config": ["token_secret": "ADMIN_TOKEN"],
                ],
                [
                    "name": "queues-admin", "handler": "queues.api", "routes": ["GET /admin/queues", "GET /admin/queues/*"],
                    "config": ["token_secret": "ADMIN_TOKEN"],
                ],
                ["name": "deliver", "handler": "webhooks.deliver", "config": ["url": "http://127.0.0.1:9/none", "signing_secret": "ADMIN_TOKEN"]],
                ["name": "digest", "handler": "cron.enqueue", "config": ["queue": "digests", "body": ["type": "digest"]]],
            ],
            "crons": [["schedule": "*/5 * * * *", "function": "digest"]],
        ]
        for (key, value) in extra { m[key] = value }
        return .object(m)
    }

    static func start(testScheduled: Bool = true, clock: any QueueClock = ManualClock()) async throws -> RunningServer {
        try await RunningServer.start(manifest: manifest(), secrets: ["ADMIN_TOKEN": token], clock: clock, testScheduled: testScheduled)
    }

    /// The folder of the console's sources (`Sources/EdgeRuntime/Console/Assets`).
    static let assets = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/EdgeRuntime/Console/Assets")

    @Test func thePageAndItsFilesAreServedFromTheBinaryWithTheirSecurityHeaders() async throws {
        let s = try await Self.start()
        for (path, type, file) in [
            ("/_edge/console", "text/html", "console.html"), ("/_edge/console/console.js", "text/javascript", "console.js"),
            ("/_edge/console/console.css", "text/css", "console.css"),
        ] {
            let answer = try await s.client.get(path)
            #expect(answer.status == 200, "\(path)")
            #expect(answer.headers["Content-Type"]?.hasPrefix(type) == true, "\(path)")
            let csp = try #require(answer.headers["Content-Security-Policy"])
            #expect(csp.contains("default-src 'self'") && csp.contains("script-src 'self'") && !csp.contains("unsafe"), "\(csp)")
            #expect(answer.headers["X-Content-Type-Options"] == "nosniff")
            // The binary carries the current sources (scripts/generate-console was run after the last edit).
            let source = try String(contentsOf: Self.assets.appendingPathComponent(file), encoding: .utf8)
            let served = String(decoding: answer.body, as: UTF8.self)
            #expect(served + "\n" == source, "\(file) differs from the embedded copy: run scripts/generate-console")
            // Nothing from another host: no absolute URL (but the SVG namespace name), no protocol-relative one.
            let urls = served.replacingOccurrences(of: "\"http://www.w3.org/2000/svg\"", with: "")
            #expect(!urls.contains("http://") && !urls.contains("https://") && !urls.contains("src=\"//") && !urls.contains("href=\"//"), "\(file)")
        }
        #expect(try await s.client.get("/_edge/console/other.js").status == 404)
        #expect(try await s.client.request("POST", "/_edge/console").status == 405)
        try await s.stopAndClean()
    }

    @Test func routesNamesTheRoutesFunctionsBindingsQueuesAndAdminBases() async throws {
        let s = try await Self.start()
        let answer = try await s.client.get("/_edge/api/routes", headers: Self.auth)
        #expect(answer.status == 200)
        #expect(answer.headers["Cache-Control"] == "no-store")
        let json = answer.json
        #expect(json["name"] == "console-tests")
        #expect(json["admin"] == ["kv": "/admin/kv", "queues": "/admin/queues"])
        #expect(json["kv_namespaces"] == ["KV", "CACHE"])
        #expect(json["test_scheduled"] == true)
        let routes = json["routes"]?.arrayValue ?? []
        #expect(routes.count == 4)
        #expect(routes.first == ["method": "GET", "path": "/admin/kv/*", "function": "kv-admin", "handler": "kv.api", "auth": .null])
        let queues = json["queues"]?.arrayValue ?? []
        #expect(queues.first == ["name": "jobs", "consumer": "deliver", "dead_letter_queue": "jobs-dlq"])
        #expect(queues.last == ["name": "digests", "consumer": .null, "dead_letter_queue": .null])
        let functions = json["functions"]?.arrayValue ?? []
        #expect(functions.first { $0["name"] == "deliver" }?["consumes"] == ["jobs"])
        #expect(functions.first { $0["name"] == "digest" }?["crons"] == ["*/5 * * * *"])
        try await s.stopAndClean()
    }

    @Test func cronsShowTheirNextRunAndRunNowOnlyInTestScheduledMode() async throws {
        let s = try await Self.start(clock: ManualClock(1_800_000_000))  // 2027-01-15T08:00:00Z
        let crons = try await s.client.get("/_edge/api/crons", headers: Self.auth)
        #expect(crons.status == 200)
        #expect(
            crons.json == [
                "test_scheduled": true,
                "crons": [
                    ["schedule": "*/5 * * * *", "function": "digest", "handler": "cron.enqueue", "next_run": "2027-01-15T08:05:00.000Z"]
                ],
            ]
        )
        let ran = try await s.client.request("POST", "/_edge/api/crons/run?cron=*/5+*+*+*+*", headers: Self.auth)
        #expect(ran.status == 200)
        #expect(ran.json == ["ran": 1])
        let digests = try await s.client.get("/admin/queues/digests/messages", headers: Self.auth).json["messages"]?.arrayValue ?? []
        #expect(digests.map { $0["body"]?["type"] } == ["digest"])
        let encoded = try await s.client.request("POST", "/_edge/api/crons/run?cron=%2A%2F5%20%2A%20%2A%20%2A%20%2A", headers: Self.auth)
        #expect(encoded.json == ["ran": 1])
        let unknown = try await s.client.request("POST", "/_edge/api/crons/run?cron=1+1+1+1+1", headers: Self.auth)
        #expect(unknown.status == 404)
        #expect(unknown.json["error"]?.stringValue?.contains("no cron with schedule") == true)
        #expect(try await s.client.request("POST", "/_edge/api/crons/run", headers: Self.auth).status == 400)
        #expect(try await s.client.get("/_edge/api/crons/run?cron=*/5+*+*+*+*", headers: Self.auth).status == 405)
        try await s.stopAndClean()

        let plain = try await Self.start(testScheduled: false)
        #expect(try await plain.client.get("/_edge/api/crons", headers: Self.auth).json["test_scheduled"] == false)
        let refused = try await plain.client.request("POST", "/_edge/api/crons/run?cron=*/5+*+*+*+*", headers: Self.auth)
        #expect(refused.status == 404)
        #expect(refused.json["error"]?.stringValue?.contains("--test-scheduled") == true)
        #expect(try await plain.client.get("/admin/queues/digests/messages", headers: Self.auth).json["messages"] == [])
        try await plain.stopAndClean()
    }

    /// The gate of the developer surfaces holds for the console: 404 without an admin handler,
    /// 403 off loopback unless the manifest sets `console`, 401 for its API without the token.
    @Test func theConsoleIsBehindTheAdminGate() async throws {
        let s = try await Self.start()
        #expect(try await s.client.get("/_edge/console").status == 200)  // the page: no data, no token
        for path in ["/_edge/api/routes", "/_edge/api/crons"] {
            let missing = try await s.client.get(path)
            #expect(missing.status == 401, "\(path)")
            #expect(missing.json["request_id"] != nil)
            #expect(try await s.client.get(path, headers: ["Authorization": "Bearer wrong"]).status == 401)
        }
        #expect(try await s.client.request("POST", "/_edge/api/crons/run?cron=*/5+*+*+*+*").status == 401)
        #expect(try await s.client.get("/admin/queues/digests/messages", headers: Self.auth).json["messages"] == [])
        try await s.stopAndClean()

        // No kv.api / queues.api: nothing to open the console with, so it is not there.
        let bare: JSONValue = [
            "name": "bare", "functions": [["name": "d", "handler": "cron.enqueue", "config": ["queue": "q", "body": [:]]]],
            "queues": [["name": "q"]],
        ]
        let plain = try await RunningServer.start(manifest: bare)
        for path in ["/_edge/console", "/_edge/console/console.js", "/_edge/api/routes"] {
            #expect(try await plain.client.get(path, headers: Self.auth).status == 404, "\(path)")
        }
        try await plain.stopAndClean()

        // Served on every address: refused unless the manifest enables the console.
        let open = try await RunningServer.start(manifest: Self.manifest(), secrets: ["ADMIN_TOKEN": Self.token]) { $0.host = "0.0.0.0" }
        let refused = try await open.client.get("/_edge/console")
        #expect(refused.status == 403)
        #expect(refused.json["error"]?.stringValue?.contains("\"console\": true") == true)
        #expect(try await open.client.get("/_edge/api/routes", headers: Self.auth).status == 403)
        try await open.stopAndClean()
        let enabled = try await RunningServer.start(manifest: Self.manifest(extra: ["console": true]), secrets: ["ADMIN_TOKEN": Self.token]) {
            $0.host = "0.0.0.0"
        }
        #expect(try await enabled.client.get("/_edge/console").status == 200)
        #expect(try await enabled.client.get("/_edge/api/routes").status == 401)
        #expect(try await enabled.client.get("/_edge/api/routes", headers: Self.auth).status == 200)
        try await enabled.stopAndClean()
    }
}
