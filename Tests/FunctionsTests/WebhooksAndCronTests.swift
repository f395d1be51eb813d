import EdgeCore
import EdgeRuntime
import EdgeTestSupport
import Foundation
import KVStore
import Queues
import Synchronization
import Testing

@Suite("webhooks.deliver and cron.enqueue")
struct WebhooksAndCronTests {
    static let token = "t"
    static let auth = ["Authorization": "Bearer t"]

    static func manifest(url: String, maxRetries: Int = 2) -> JSONValue {
        [
            "secrets": ["ADMIN_TOKEN", "HOOK_SECRET"],
            "queues": [
                [
                    "name": "outbound",
                    "consumer": [
                        "function": "deliver", "max_batch_size": 10, "max_batch_timeout": 0,
                        "max_retries": .integer(Int64(maxRetries)), "retry_delay": 0, "dead_letter_queue": "outbound-dlq",
                    ],
                ],
                ["name": "outbound-dlq"], ["name": "digests"],
            ],
            "functions": [
                [
                    "name": "deliver", "handler": "webhooks.deliver",
                    "config": ["url": .string(url), "signing_secret": "HOOK_SECRET", "timeout_seconds": 2],
                ],
                [
                    "name": "admin", "handler": "queues.api", "routes": ["GET /q", "GET /q/*", "POST /q/*"],
                    "config": ["token_secret": "ADMIN_TOKEN"],
                ],
                ["name": "digest", "handler": "cron.enqueue", "config": ["queue": "digests", "body": ["type": "digest"]]],
            ],
            "crons": [["schedule": "*/5 * * * *", "function": "digest"], ["schedule": "0 3 * * *", "function": "digest"]],
        ]
    }

    @Test func deliversSignedBodiesAndRetriesUntilAccepted() async throws {
        let failuresLeft = Mutex(2)
        let fake = try await FakeProvider.start { _ in
            failuresLeft.withLock { n in
                n > 0
                    ? {
                        n -= 1
                        return FakeProvider.Reply(status: 503)
                    }() : FakeProvider.Reply(status: 204)
            }
        }
        let s = try await RunningServer.start(
            manifest: Self.manifest(url: fake.url("/hooks")),
            secrets: ["ADMIN_TOKEN": "t", "HOOK_SECRET": "whsec-plain"]
        )
        _ = try await s.client.request("POST", "/q/outbound/messages", headers: Self.auth, json: ["body": ["event": "order.paid", "id": 9]])
        #expect(await eventually { fake.requests.count == 3 })
        let last = try #require(fake.requests.last)
        #expect(last.method == "POST")
        #expect(last.path == "/hooks")
        #expect(last.headers["content-type"] == "application/json")
        #expect(last.json == ["event": "order.paid", "id": 9])
        // The signature is the lowercase hex HMAC-SHA256 of the exact bytes, keyed with the secret's UTF-8.
        #expect(last.headers["x-webhook-signature"] == Hex.encode(Crypto.hmacSHA256(key: Array("whsec-plain".utf8), data: Array(last.body))))
        #expect(fake.requests.allSatisfy { $0.body == last.body })
        #expect(
            await eventually {
                let stats = try? await s.client.get("/q", headers: Self.auth).json.arrayValue?.first { $0["name"] == "outbound" }
                return stats?["pending"] == 0 && stats?["in_flight"] == 0
            }
        )
        #expect(try await s.client.get("/q/outbound-dlq/messages", headers: Self.auth).json["messages"]?.arrayValue?.isEmpty == true)
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func aReceiverThatKeepsFailingSendsTheMessageToTheDLQ() async throws {
        let fake = try await FakeProvider.start { _ in FakeProvider.Reply(status: 500) }
        let s = try await RunningServer.start(
            manifest: Self.manifest(url: fake.url("/hooks"), maxRetries: 1),
            secrets: ["ADMIN_TOKEN": "t", "HOOK_SECRET": "k"]
        )
        _ = try await s.client.request("POST", "/q/outbound/messages", headers: Self.auth, json: ["body": "ping", "content_type": "text"])
        #expect(
            await eventually {
                (try? await s.client.get("/q/outbound-dlq/messages", headers: Self.auth).json["messages"]?.arrayValue?.count) == 1
            }
        )
        let dead = try await s.client.get("/q/outbound-dlq/messages", headers: Self.auth).json["messages"]?.arrayValue?.first
        #expect(dead?["body"] == "ping")
        #expect(dead?["attempts"] == 2)
        #expect(dead?["last_error"] == "receiver answered 500")
        #expect(fake.requests.count == 2)
        #expect(fake.requests.first?.headers["content-type"]?.hasPrefix("text/plain") == true)
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func aDeadReceiverPortEndsInTheDLQWithWhatFailed() async throws {
        // A port bound but never listening: connections are refused, and no other server of
        // the test run can take the port while the test runs.
        let gone = try RefusingPort()
        let url = "http://127.0.0.1:\(gone.port)/hooks"
        let s = try await RunningServer.start(manifest: Self.manifest(url: url, maxRetries: 1), secrets: ["ADMIN_TOKEN": "t", "HOOK_SECRET": "k"])
        _ = try await s.client.request("POST", "/q/outbound/messages", headers: Self.auth, json: ["body": "ping", "content_type": "text"])
        #expect(
            await eventually {
                (try? await s.client.get("/q/outbound-dlq/messages", headers: Self.auth).json["messages"]?.arrayValue?.count) == 1
            }
        )
        let dead = try await s.client.get("/q/outbound-dlq/messages", headers: Self.auth).json["messages"]?.arrayValue?.first
        let lastError = dead?["last_error"]?.stringValue ?? ""
        #expect(lastError.hasPrefix("POST \(url): "), "\(lastError)")
        #expect(lastError.lowercased().contains("connect"), "\(lastError)")
        #expect(dead?["attempts"] == 2)
        try await s.stopAndClean()
        withExtendedLifetime(gone) {}
    }

    @Test func testScheduledRunsTheCronsOfOneScheduleOrAll() async throws {
        // A clock that stands still at 18:03: the scheduler's own */5 run never comes (on the
        // wall clock, a test crossing a five-minute mark found a fourth digest).
        let s = try await RunningServer.start(
            manifest: Self.manifest(url: "http://127.0.0.1:9/none"),
            secrets: ["ADMIN_TOKEN": "t", "HOOK_SECRET": "k"],
            clock: ManualClock(1_795_456_980),
            testScheduled: true
        )
        let one = try await s.client.get("/__scheduled?cron=*/5+*+*+*+*")
        #expect(one.status == 200)
        #expect(one.json == ["ran": 1])
        #expect(try await s.client.get("/__scheduled").json == ["ran": 2])
        #expect(try await s.client.get("/__scheduled?cron=1+1+1+1+1").json == ["ran": 0])
        let digests = try await s.client.get("/q/digests/messages", headers: Self.auth).json["messages"]?.arrayValue ?? []
        #expect(digests.count == 3)
        #expect(digests.first?["body"]?["type"] == "digest")
        let time = try #require(digests.first?["body"]?["scheduled_time"]?.stringValue)
        #expect(time.count == 24 && time.hasSuffix("Z") && time.contains("."))
        try await s.stopAndClean()
    }

    @Test func withoutTestScheduledTheEndpointDoesNotExist() async throws {
        let s = try await RunningServer.start(
            manifest: Self.manifest(url: "http://127.0.0.1:9/none"),
            secrets: ["ADMIN_TOKEN": "t", "HOOK_SECRET": "k"]
        )
        #expect(try await s.client.get("/__scheduled").status == 404)
        try await s.stopAndClean()
    }

    @Test func cronsFireOnTheInjectedClock() async throws {
        // 2026-11-23T18:03:00Z: the next */5 slot is 18:05.
        let clock = ManualClock(1_795_456_980)
        let s = try await RunningServer.start(
            manifest: Self.manifest(url: "http://127.0.0.1:9/none"),
            secrets: ["ADMIN_TOKEN": "t", "HOOK_SECRET": "k"],
            clock: clock
        )
        #expect(await eventually { clock.sleepingUntil.contains(1_795_457_100) })
        clock.set(1_795_457_100)
        #expect(
            await eventually {
                (try? await s.client.get("/q/digests/messages", headers: Self.auth).json["messages"]?.arrayValue?.count) == 1
            }
        )
        let body = try await s.client.get("/q/digests/messages", headers: Self.auth).json["messages"]?.arrayValue?.first?["body"]
        #expect(body?["scheduled_time"] == "2026-11-23T18:05:00.000Z")
        #expect(await eventually { clock.sleepingUntil.contains(1_795_457_400) })
        try await s.stopAndClean()
    }
}
