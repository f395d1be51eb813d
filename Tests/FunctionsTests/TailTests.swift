import EdgeCore
import EdgeRuntime
import EdgeTestSupport
import Foundation
import Queues
import Testing

/// `GET /_edge/tail` on a real server: what it streams, its filters, its gate, and that it
/// neither slows requests nor holds up shutdown.
@Suite("Live tail")
struct TailTests {
    static let auth = ["Authorization": "Bearer t"]

    static func manifest(console: Bool? = nil, idleTimeout: Double? = nil) -> JSONValue {
        var root: [String: JSONValue] = [
            "secrets": ["ADMIN_TOKEN"],
            "kv_namespaces": [["binding": "KV"]],
            "queues": [["name": "users", "consumer": ["function": "user-events", "max_batch_timeout": 0]], ["name": "digests"]],
            "functions": [
                [
                    "name": "admin", "handler": "queues.api", "routes": ["GET /q", "GET /q/*", "POST /q/*"],
                    "config": ["token_secret": "ADMIN_TOKEN"],
                ],
                ["name": "user-events", "handler": "auth.events", "config": ["kv": "KV"]],
                ["name": "digest", "handler": "cron.enqueue", "config": ["queue": "digests", "body": ["type": "digest"]]],
            ],
            "crons": [["schedule": "*/5 * * * *", "function": "digest"]],
        ]
        if let console { root["console"] = .bool(console) }
        if let idleTimeout { root["limits"] = ["idle_timeout_seconds": .number(idleTimeout)] }
        return .object(root)
    }

    static func start(manifest: JSONValue = manifest(), configure: (inout ServeOptions) -> Void = { _ in }) async throws -> RunningServer {
        // A clock that stands still: the */5 cron runs only when a test asks (/__scheduled), not
        // because a test crossed a five-minute mark of the wall clock (an event no test expects).
        try await RunningServer.start(
            manifest: manifest,
            secrets: ["ADMIN_TOKEN": "t"],
            clock: ManualClock(1_795_456_980),
            testScheduled: true,
            configure: configure
        )
    }

    static let userCreated: JSONValue = ["body": ["type": "user.created", "data": ["id": "user_1", "email_addresses": []]]]

    @Test func streamsRequestsIncludingA404DeliveriesAndCronRuns() async throws {
        let s = try await Self.start()
        let (tail, head) = try await TailReader.open(port: s.port, token: "t")
        #expect(head.hasPrefix("HTTP/1.1 200"))
        #expect(head.lowercased().contains("content-type: text/event-stream"))

        #expect(try await s.client.get("/nowhere").status == 404)
        let miss = await tail.next { $0["type"] == "request" }
        #expect(miss?["path"] == "/nowhere")
        #expect(miss?["status"] == 404)
        #expect(miss?["route"] == "unmatched")
        #expect(miss?["function"] == .null)
        #expect(miss?["method"] == "GET")
        #expect(miss?["request_id"]?.stringValue?.isEmpty == false)
        #expect(miss?["duration_ms"]?.doubleValue != nil)
        #expect(miss?["time"]?.stringValue?.hasSuffix("Z") == true)

        #expect(try await s.client.request("POST", "/q/users/messages", headers: Self.auth, json: Self.userCreated).status == 202)
        let sent = await tail.next { $0["type"] == "request" }
        #expect(sent?["function"] == "admin")
        #expect(sent?["route"] == "POST /q/*")
        #expect(sent?["status"] == 202)
        let delivery = await tail.next { $0["type"] == "delivery" }
        #expect(delivery?["queue"] == "users")
        #expect(delivery?["function"] == "user-events")
        #expect(delivery?["outcome"] == "ack")
        #expect(delivery?["count"] == 1)
        #expect(delivery?["messages"]?.arrayValue?.first?["attempts"] == 1)
        #expect(delivery?["messages"]?.arrayValue?.first?["outcome"] == "ack")

        #expect(try await s.client.get("/__scheduled").json == ["ran": 1])
        let cron = await tail.next { $0["type"] == "scheduled" }
        #expect(cron?["cron"] == "*/5 * * * *")
        #expect(cron?["function"] == "digest")
        #expect(cron?["outcome"] == "ok")
        let scheduledRequest = await tail.next { $0["path"] == "/__scheduled" }
        #expect(scheduledRequest?["status"] == 200)
        // The tail request itself is never an event.
        #expect(!tail.events.contains { $0["path"] == "/_edge/tail" })
        try await s.stopAndClean()
    }

    @Test func filtersByStatusFunctionAndQueue() async throws {
        let s = try await Self.start()
        let (notFound, _) = try await TailReader.open(port: s.port, query: "?status=4xx", token: "t")
        let (admin, _) = try await TailReader.open(port: s.port, query: "?function=admin", token: "t")
        let (users, _) = try await TailReader.open(port: s.port, query: "?queue=users", token: "t")
        _ = try await s.client.get("/_edge/health")
        _ = try await s.client.request("POST", "/q/users/messages", headers: Self.auth, json: Self.userCreated)
        _ = try await s.client.get("/nowhere")

        #expect(await notFound.next { $0["path"] == "/nowhere" } != nil)
        #expect(notFound.events.allSatisfy { ($0["status"]?.intValue ?? 0) / 100 == 4 })
        #expect(await users.next { $0["type"] == "delivery" } != nil)
        #expect(users.events.allSatisfy { $0["queue"] == "users" })
        _ = try await s.client.request("GET", "/q", headers: Self.auth)
        #expect(await admin.next { $0["route"] == "GET /q" } != nil)
        #expect(admin.events.count == 2)
        #expect(admin.events.allSatisfy { $0["function"] == "admin" })
        try await s.stopAndClean()
    }

    @Test func theGateAnswers401WithoutTheToken400ForABadFilter() async throws {
        let s = try await Self.start()
        let missing = try await s.client.get("/_edge/tail")
        #expect(missing.status == 401)
        #expect(missing.json["error"] == "missing bearer token")
        #expect(missing.json["request_id"]?.stringValue != nil)
        #expect(try await s.client.get("/_edge/tail", headers: ["Authorization": "Bearer nope"]).status == 401)
        #expect(try await s.client.get("/_edge/tail?status=9xx", headers: Self.auth).status == 400)
        #expect(try await s.client.request("POST", "/_edge/tail", headers: Self.auth).status == 405)
        try await s.stopAndClean()
    }

    @Test func withoutAnAdminFunctionThereIsNoTail() async throws {
        let manifest: JSONValue = [
            "functions": [["name": "health", "handler": "cron.enqueue", "config": ["queue": "q", "body": [:]]]],
            "queues": [["name": "q"]],
        ]
        let s = try await RunningServer.start(manifest: manifest)
        let answer = try await s.client.get("/_edge/tail", headers: Self.auth)
        #expect(answer.status == 404)
        #expect(answer.json["error"] == "no route for GET /_edge/tail")
        try await s.stopAndClean()
    }

    @Test func aPublicHostNeedsConsoleEnabled() async throws {
        let closed = try await Self.start { $0.host = "0.0.0.0" }
        let refused = try await closed.client.get("/_edge/tail", headers: Self.auth)
        #expect(refused.status == 403)
        #expect(refused.json["error"]?.stringValue?.contains("\"console\": true") == true)
        try await closed.stopAndClean()

        let open = try await Self.start(manifest: Self.manifest(console: true)) { $0.host = "0.0.0.0" }
        #expect(try await open.client.get("/_edge/tail").status == 401)
        let (tail, head) = try await TailReader.open(port: open.port, token: "t")
        #expect(head.hasPrefix("HTTP/1.1 200"))
        _ = tail
        try await open.stopAndClean()
    }

    @Test func aSlowSubscriberIsToldWhatItMissedAndRequestsGoOn() async throws {
        let s = try await Self.start()
        // A tail client that never reads, and an in-process subscriber with room for 2 events.
        let (_, head) = try await TailReader.open(port: s.port, token: "t")
        #expect(head.hasPrefix("HTTP/1.1 200"))
        let slow = s.server.live.subscribe(bufferSize: 2)
        for i in 0..<50 {
            #expect(try await s.client.get("/_edge/health?i=\(i)").status == 200)
        }
        let first = await slow.next()
        #expect(first?.json == ["type": "dropped", "count": 48])
        #expect(await slow.next()?.json["path"] == "/_edge/health")
        #expect(slow.droppedCount == 48)
        slow.cancel()
        try await s.stopAndClean()
    }

    @Test func aClientThatGoesAwayIsUnsubscribed() async throws {
        let s = try await Self.start()
        let (tail, _) = try await TailReader.open(port: s.port, token: "t")
        #expect(await eventually { s.server.live.subscribers == 1 })
        tail.disconnect()
        #expect(await eventually { s.server.live.subscribers == 0 })
        try await s.stopAndClean()
    }

    @Test func shutdownEndsTheStreamWithoutWaitingForTheGrace() async throws {
        var manifest = Self.manifest().objectValue!
        manifest["limits"] = ["shutdown_grace_seconds": 60]
        let s = try await Self.start(manifest: .object(manifest))
        let (tail, _) = try await TailReader.open(port: s.port, token: "t")
        let stopping = Task { try await s.stop() }
        // Well inside the 60 s grace: the stream does not hold the shutdown.
        #expect(await tail.waitUntilClosed(timeout: 45))
        try await stopping.value
        s.data.cleanup()
    }

    @Test func heartbeatsKeepAnIdleStreamOpenPastTheIdleTimeout() async throws {
        let s = try await Self.start(manifest: Self.manifest(idleTimeout: 1)) { $0.tailHeartbeat = .milliseconds(200) }
        let (tail, _) = try await TailReader.open(port: s.port, token: "t")
        // Nothing happens for longer than the idle timeout: the stream stays open, heartbeats flow.
        #expect(await tail.next(timeout: 2.5) == nil)
        #expect(!tail.isClosed)
        #expect(tail.raw.contains(": heartbeat"))
        _ = try await s.client.get("/nowhere")
        #expect(await tail.next { $0["path"] == "/nowhere" } != nil)
        try await s.stopAndClean()
    }
}
