import EdgeRuntime
import EdgeTestSupport
import Foundation
import KVStore
import Queues
import Synchronization
import Testing

/// `mixpanel.track`, `mixpanel.engage`, `posthog.capture`, `posthog.flags`, `analytics.retry`
/// and the analytics middleware against local fake Mixpanel / PostHog servers.
@Suite("analytics")
struct AnalyticsTests {
    static let auth = ["Authorization": "Bearer t"]

    struct FixedClaims: RequestAuthenticator {
        func authenticate(_ request: EdgeRequest) async throws -> JSONValue { ["sub": "user_7"] }
    }

    static func manifest(
        base: String,
        flushAt: Int = 10,
        interval: Double = 3600,
        maxBuffered: Int = 10_000,
        retryConsumer: Bool = true,
        extra: [JSONValue] = []
    ) -> JSONValue {
        var queues: [JSONValue] = [["name": "analytics-dlq"]]
        queues.append(
            retryConsumer
                ? [
                    "name": "analytics",
                    "consumer": [
                        "function": "retry", "max_batch_size": 10, "max_batch_timeout": 0, "max_retries": 2,
                        "dead_letter_queue": "analytics-dlq",
                    ],
                ]
                : ["name": "analytics"]
        )
        let config: JSONValue = [
            "queue": "analytics", "flush_at": .integer(Int64(flushAt)), "flush_interval_seconds": .number(interval),
            "max_buffered": .integer(Int64(maxBuffered)),
        ]
        return [
            "vars": ["MIXPANEL_API_BASE": .string(base), "POSTHOG_HOST": .string(base)],
            "secrets": ["MIXPANEL_TOKEN", "POSTHOG_API_KEY", "ADMIN_TOKEN"],
            "kv_namespaces": [["binding": "KV"]],
            "queues": .array(queues),
            "functions": .array(
                [
                    ["name": "track", "handler": "mixpanel.track", "routes": ["POST /track"], "config": config],
                    ["name": "capture", "handler": "posthog.capture", "routes": ["POST /capture"], "config": config],
                    ["name": "engage", "handler": "mixpanel.engage", "routes": ["POST /engage"]],
                    ["name": "flags", "handler": "posthog.flags", "routes": ["POST /flags"]],
                    ["name": "retry", "handler": "analytics.retry"],
                    [
                        "name": "admin", "handler": "queues.api", "routes": ["GET /q", "GET /q/*", "POST /q/*"],
                        "config": ["token_secret": "ADMIN_TOKEN"],
                    ],
                ] + extra
            ),
        ]
    }

    static let secrets = ["MIXPANEL_TOKEN": "mp-token", "POSTHOG_API_KEY": "phc_key", "ADMIN_TOKEN": "t"]

    /// The `data` JSON array of a Mixpanel form body.
    static func mixpanelData(_ r: FakeProvider.Recorded) -> [JSONValue] {
        let data = FormEncoding.decode(r.text).first { $0.name == "data" }?.value ?? ""
        return (try? JSONValue.parse(data))?.arrayValue ?? []
    }

    static let mixpanelOK: FakeProvider.Responder = { _ in .json(["status": 1, "error": .null]) }

    @Test func mixpanelFlushesAtTheCountInTheSDKsFormShape() async throws {
        let fake = try await FakeProvider.start(Self.mixpanelOK)
        let s = try await RunningServer.start(manifest: Self.manifest(base: fake.url(), flushAt: 3), secrets: Self.secrets)
        let one = try await s.client.request("POST", "/track", json: ["event": "signup", "distinct_id": "u1", "properties": ["plan": "pro"]])
        #expect(one.status == 202)
        #expect(one.json == ["accepted": 1])
        let two = try await s.client.request("POST", "/track", json: [["event": "a"], ["event": "b", "properties": ["$insert_id": "keep-me-1"]]])
        #expect(two.json == ["accepted": 2])
        #expect(await eventually { fake.requests.count == 1 })
        let r = try #require(fake.requests.first)
        #expect(r.method == "POST" && r.path == "/track")
        #expect(r.headers["content-type"] == "application/x-www-form-urlencoded")
        let form = FormEncoding.decode(r.text)
        #expect(form.first { $0.name == "verbose" }?.value == "1")
        let events = Self.mixpanelData(r)
        #expect(events.count == 3)
        let first = try #require(events.first?["properties"])
        #expect(events.first?["event"] == "signup")
        #expect(first["token"] == "mp-token")
        #expect(first["distinct_id"] == "u1")
        #expect(first["plan"] == "pro")
        #expect(first["mp_lib"] == "edge-run")
        #expect((first["time"]?.intValue ?? 0) > 1_700_000_000_000)
        let insertID = try #require(first["$insert_id"]?.stringValue)
        #expect(insertID.count <= 36 && insertID.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" })
        #expect(events[1]["properties"]?["distinct_id"] == "anonymous")
        #expect(events[2]["properties"]?["$insert_id"] == "keep-me-1")
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func aBufferFlushesOnTimeAndOnShutdown() async throws {
        let fake = try await FakeProvider.start(Self.mixpanelOK)
        // Mixpanel on a 0.2 s interval, PostHog on an hour: only shutdown sends the PostHog buffer.
        var m = Self.manifest(base: fake.url(), interval: 0.2)
        if case .object(var o) = m, case .array(var fs) = o["functions"]!, case .object(var capture) = fs[1] {
            capture["config"] = ["queue": "analytics", "flush_interval_seconds": 3600]
            fs[1] = .object(capture)
            o["functions"] = .array(fs)
            m = .object(o)
        }
        let s = try await RunningServer.start(manifest: m, secrets: Self.secrets)
        _ = try await s.client.request("POST", "/track", json: ["event": "timed"])
        _ = try await s.client.request("POST", "/capture", json: [["event": "p1", "distinct_id": "d"], ["event": "p2", "distinct_id": "d"]])
        #expect(await eventually { fake.requests.contains { $0.path == "/track" } })
        try await Task.sleep(for: .milliseconds(300))
        #expect(!fake.requests.contains { $0.path == "/batch/" })
        try await s.stop()
        let batches = fake.requests.filter { $0.path == "/batch/" }
        #expect(batches.count == 1)
        #expect(batches.first?.json["batch"]?.arrayValue?.count == 2)
        #expect(Self.mixpanelData(try #require(fake.requests.first { $0.path == "/track" })).first?["event"] == "timed")
        s.data.cleanup()
        try await fake.stop()
    }

    @Test func posthogBatchesHaveTheSDKShape() async throws {
        let fake = try await FakeProvider.start { _ in .json(["status": "Ok"]) }
        let s = try await RunningServer.start(manifest: Self.manifest(base: fake.url(), flushAt: 2), secrets: Self.secrets)
        _ = try await s.client.request(
            "POST",
            "/capture",
            json: [
                ["event": "viewed", "distinct_id": "u9", "properties": ["page": "/x"]],
                ["event": "clicked", "distinct_id": "u9", "uuid": "0B4F31C1-6E1E-4D6A-8C5B-7A1D2F3E4A5B"],
            ]
        )
        #expect(await eventually { fake.requests.count == 1 })
        let r = try #require(fake.requests.first)
        #expect(r.path == "/batch/")
        #expect(r.headers["content-type"] == "application/json")
        #expect(r.json["api_key"] == "phc_key")
        let sentAt = try #require(r.json["sent_at"]?.stringValue)
        #expect(sentAt.count == 24 && sentAt.hasSuffix("Z"))
        let batch = r.json["batch"]?.arrayValue ?? []
        #expect(batch.count == 2)
        #expect(batch[0]["event"] == "viewed")
        #expect(batch[0]["distinct_id"] == "u9")
        #expect(batch[0]["type"] == "capture")
        #expect(batch[0]["properties"]?["page"] == "/x")
        #expect(batch[0]["properties"]?["$lib"] == "edge-run")
        #expect(batch[0]["properties"]?["$lib_version"]?.stringValue != nil)
        #expect(batch[0]["timestamp"]?.stringValue?.count == 24)
        #expect(UUID(uuidString: batch[0]["uuid"]?.stringValue ?? "") != nil)
        #expect(batch[1]["uuid"] == "0b4f31c1-6e1e-4d6a-8c5b-7a1d2f3e4a5b")
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func aFailedFlushSpillsToTheQueueAndIsResentWithTheSameIDs() async throws {
        let calls = Mutex(0)
        let fake = try await FakeProvider.start { r in
            let n = calls.withLock {
                $0 += 1
                return $0
            }
            if n == 1 { return .init(status: 503) }
            if n == 3 { return .json(["status": 0, "error": "busy"]) }
            return r.path == "/track" ? .json(["status": 1]) : .init(status: 200)
        }
        let s = try await RunningServer.start(manifest: Self.manifest(base: fake.url(), flushAt: 2), secrets: Self.secrets)
        _ = try await s.client.request("POST", "/track", json: [["event": "a"], ["event": "b"]])
        // 503 at the flush → queue → analytics.retry re-sends the same two events at once.
        #expect(await eventually { fake.requests.count == 2 })
        let ids = fake.requests.map { Self.mixpanelData($0).compactMap { $0["properties"]?["$insert_id"]?.stringValue } }
        #expect(ids[0].count == 2)
        #expect(ids[0] == ids[1])
        #expect(
            await eventually {
                let stats = try? await s.client.get("/q", headers: Self.auth).json.arrayValue?.first { $0["name"] == "analytics" }
                return stats?["pending"] == 0 && stats?["in_flight"] == 0 && stats?["delayed"] == 0
            }
        )
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func theRetryConsumerBacksOffAndDeadLettersARejection() async throws {
        let fake = try await FakeProvider.start { r in
            fakeCount(r) ? .init(status: 429, headers: ["Retry-After": "0"]) : .init(status: 400, body: Data("bad".utf8))
        }
        let s = try await RunningServer.start(manifest: Self.manifest(base: fake.url(), flushAt: 1), secrets: Self.secrets)
        _ = try await s.client.request("POST", "/capture", json: ["event": "x", "distinct_id": "d"])
        // The flush gets 429 → queue; the consumer gets 429 (Retry-After 0) → retried; then 400 → dead-lettered.
        #expect(
            await eventually {
                (try? await s.client.get("/q/analytics-dlq/messages", headers: Self.auth).json["messages"]?.arrayValue?.count) == 1
            }
        )
        let dead = try await s.client.get("/q/analytics-dlq/messages", headers: Self.auth).json["messages"]?.arrayValue?.first
        #expect(dead?["body"]?["kind"] == "posthog.capture")
        #expect(dead?["body"]?["items"]?.arrayValue?.first?["event"] == "x")
        #expect(dead?["last_error"]?.stringValue?.contains("400") == true)
        #expect(fake.requests.count == 3)
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func aProviderThatIsDownFillsTheQueueNotMemory() async throws {
        let fake = try await FakeProvider.start { _ in .init(status: 503) }
        let s = try await RunningServer.start(
            manifest: Self.manifest(base: fake.url(), flushAt: 50, maxBuffered: 100, retryConsumer: false),
            secrets: Self.secrets
        )
        for i in 0..<10 {
            let events: [JSONValue] = (0..<50).map { j in ["event": "e", "properties": ["n": .integer(Int64(i * 50 + j))]] }
            #expect(try await s.client.request("POST", "/track", json: .array(events)).status == 202)
        }
        try await s.stop()
        // Every event ends up in the analytics queue, once: nothing lost, nothing duplicated.
        let reopened = try await RunningServer.start(
            manifest: Self.manifest(base: fake.url(), retryConsumer: false),
            secrets: Self.secrets,
            data: s.data
        )
        let messages = try await reopened.client.get("/q/analytics/messages?limit=1000", headers: Self.auth).json["messages"]?.arrayValue ?? []
        let numbers = messages.flatMap { $0["body"]?["items"]?.arrayValue ?? [] }.compactMap { $0["properties"]?["n"]?.intValue }
        #expect(numbers.count == 500)
        #expect(Set(numbers).count == 500)
        try await reopened.stopAndClean()
        try await fake.stop()
    }

    @Test func flagsAreSimplifiedAndCachedPerDistinctID() async throws {
        let fake = try await FakeProvider.start { r in
            guard r.path == "/flags", r.query == "v=2" else { return .init(status: 404) }
            return .json([
                "flags": [
                    "beta": ["key": "beta", "enabled": true, "variant": .null],
                    "checkout": ["key": "checkout", "enabled": true, "variant": "blue"],
                    "off": ["key": "off", "enabled": false, "variant": .null],
                ]
            ])
        }
        let s = try await RunningServer.start(manifest: Self.manifest(base: fake.url()), secrets: Self.secrets)
        let firstAsked = Date().timeIntervalSince1970.rounded(.down)
        for _ in 0..<2 {
            let r = try await s.client.request("POST", "/flags", json: ["distinct_id": "u1"])
            #expect(r.status == 200)
            #expect(r.json == ["flags": ["beta": true, "checkout": "blue", "off": false]])
        }
        #expect(fake.requests.count == 1)
        #expect(fake.requests.first?.json == ["api_key": "phc_key", "distinct_id": "u1"])
        _ = try await s.client.request("POST", "/flags", json: ["distinct_id": "u2"])
        #expect(fake.requests.count == 2)
        #expect(try await s.client.request("POST", "/flags", json: ["nope": 1]).status == 400)
        let kv = try s.server.env.kv("KV")
        let cached = try await kv.getWithMetadata("flags:u1")
        let expiration = try #require(cached?.expiration)
        // Cached for 300 s from when it was fetched: between the first request and now.
        #expect((firstAsked + 300...Date().timeIntervalSince1970.rounded(.up) + 300).contains(Double(expiration)))
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func engageSendsTheProfileUpdate() async throws {
        let fake = try await FakeProvider.start(Self.mixpanelOK)
        let s = try await RunningServer.start(manifest: Self.manifest(base: fake.url()), secrets: Self.secrets)
        let r = try await s.client.request("POST", "/engage", json: ["distinct_id": "u1", "set": ["$email": "a@b.c", "plan": "pro"]])
        #expect(r.status == 200)
        let sent = try #require(fake.requests.first)
        #expect(sent.path == "/engage")
        let update = try #require(Self.mixpanelData(sent).first)
        #expect(update["$token"] == "mp-token")
        #expect(update["$distinct_id"] == "u1")
        #expect(update["$set"] == ["$email": "a@b.c", "plan": "pro"])
        #expect(try await s.client.request("POST", "/engage", json: ["distinct_id": "u1"]).status == 400)
        fake.respond { _ in .json(["status": 0, "error": "bad"]) }
        #expect(try await s.client.request("POST", "/engage", json: ["distinct_id": "u1", "set": ["a": 1]]).status == 502)
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func theMiddlewareTracksAPIRequestsWithoutWaiting() async throws {
        let fake = try await FakeProvider.start { _ in .json(["status": "Ok"]) }
        let echo: JSONValue = ["name": "echo", "handler": "test.echo", "routes": ["GET /hello"], "auth": "idp", "analytics": "posthog"]
        var m = Self.manifest(base: fake.url(), extra: [echo])
        if case .object(var o) = m {
            o["auth_providers"] = ["idp": ["jwks_url": "https://idp.example/jwks", "issuer": "https://idp.example"]]
            m = .object(o)
        }
        let s = try await RunningServer.start(
            manifest: m,
            secrets: Self.secrets,
            registry: TestFunctions.registry(),
            authenticators: ["idp": FixedClaims()]
        )
        let r = try await s.client.get("/hello", headers: ["X-Forwarded-For": "203.0.113.9, 10.0.0.1"])
        #expect(r.status == 200)
        #expect(fake.requests.isEmpty)
        try await s.stop()
        let event = try #require(fake.requests.first?.json["batch"]?.arrayValue?.first)
        #expect(event["event"] == "api_request")
        #expect(event["distinct_id"] == "user_7")
        let p = try #require(event["properties"])
        #expect(p["path"] == "/hello")
        #expect(p["method"] == "GET")
        #expect(p["status"] == 200)
        #expect(p["userId"] == "user_7")
        #expect(p["ip"] == "203.0.113.9")
        #expect((p["duration"]?.doubleValue ?? -1) >= 0)
        s.data.cleanup()
        try await fake.stop()
    }

    @Test func usageIsCountedPerDayAndWarnsOncePerServiceAt80Percent() async throws {
        let testStarted = Date().timeIntervalSince1970.rounded(.down)
        let fake = try await FakeProvider.start { _ in .json(["status": "Ok"]) }
        let usage: JSONValue = ["kv": "KV", "daily_limit": 10, "warn_queue": "email", "warn_to": "ops@example.com"]
        let m: JSONValue = [
            "vars": ["POSTHOG_HOST": .string(fake.url())], "secrets": ["POSTHOG_API_KEY", "ADMIN_TOKEN"],
            "kv_namespaces": [["binding": "KV"]], "queues": [["name": "email"]],
            "functions": [
                [
                    "name": "capture", "handler": "posthog.capture", "routes": ["POST /capture"],
                    "config": ["flush_at": 4, "flush_interval_seconds": 3600, "usage": usage],
                ],
                [
                    "name": "admin", "handler": "queues.api", "routes": ["GET /q", "GET /q/*", "POST /q/*"],
                    "config": ["token_secret": "ADMIN_TOKEN"],
                ],
            ],
        ]
        let s = try await RunningServer.start(manifest: m, secrets: Self.secrets)
        let four: JSONValue = .array((0..<4).map { _ in ["event": "e", "distinct_id": "d"] })
        let kv = try s.server.env.kv("KV")
        let key = "usage:posthog:capture:" + String(ISO8601Millis.format(Date()).prefix(10))
        _ = try await s.client.request("POST", "/capture", json: four)
        #expect(await eventually { (try? await kv.get(key)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } == "4" })
        #expect(try await s.client.get("/q/email/messages", headers: Self.auth).json["messages"]?.arrayValue?.isEmpty == true)
        _ = try await s.client.request("POST", "/capture", json: four)  // 8 of 10: the warning
        #expect(
            await eventually {
                (try? await s.client.get("/q/email/messages", headers: Self.auth).json["messages"]?.arrayValue?.count) == 1
            }
        )
        _ = try await s.client.request("POST", "/capture", json: four)  // 12: no second warning today
        #expect(await eventually { (try? await kv.get(key)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } == "12" })
        try await Task.sleep(for: .milliseconds(100))
        let mail = try await s.client.get("/q/email/messages", headers: Self.auth).json["messages"]?.arrayValue ?? []
        #expect(mail.count == 1)
        #expect(mail.first?["body"]?["to"] == "ops@example.com")
        #expect(mail.first?["body"]?["template"] == "usage-warning")
        #expect(mail.first?["body"]?["data"]?["service"] == "posthog")
        #expect(mail.first?["body"]?["data"]?["limit"] == 10)
        let expiration = try #require(try await kv.getWithMetadata(key)?.expiration)
        // Kept 7 days from a write made during this test (the server starts within it).
        #expect((testStarted + 7 * 86_400...Date().timeIntervalSince1970.rounded(.up) + 7 * 86_400).contains(Double(expiration)))
        try await s.stopAndClean()
        try await fake.stop()
    }

    @Test func concurrentProducersLoseAndDuplicateNothing() async throws {
        let fake = try await FakeProvider.start(Self.mixpanelOK)
        let s = try await RunningServer.start(manifest: Self.manifest(base: fake.url(), flushAt: 10), secrets: Self.secrets)
        try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<200 {
                group.addTask {
                    let events: JSONValue = .array((0..<5).map { j in ["event": "c", "properties": ["n": .integer(Int64(i * 5 + j))]] })
                    return try await s.client.request("POST", "/track", json: events).status
                }
            }
            for try await status in group { #expect(status == 202) }
        }
        try await s.stop()
        let numbers = fake.requests.flatMap { Self.mixpanelData($0) }.compactMap { $0["properties"]?["n"]?.intValue }
        #expect(numbers.count == 1000)
        #expect(Set(numbers).count == 1000)
        #expect(fake.requests.allSatisfy { Self.mixpanelData($0).count <= 50 })
        s.data.cleanup()
        try await fake.stop()
    }

    @Test func badConfigsAndAMissingAnalyticsReceiverAreStartupErrors() async throws {
        var bad = Self.manifest(base: "http://127.0.0.1:9")
        if case .object(var o) = bad, case .array(var fs) = o["functions"]!, case .object(var track) = fs[0] {
            track["config"] = ["flush_at": 500]
            fs[0] = .object(track)
            o["functions"] = .array(fs)
            bad = .object(o)
        }
        await #expect(throws: (any Error).self) { try await RunningServer.start(manifest: bad, secrets: Self.secrets) }
        let lonely: JSONValue = [
            "functions": [["name": "echo", "handler": "test.echo", "routes": ["GET /hello"], "analytics": "mixpanel"]]
        ]
        await #expect(throws: (any Error).self) { try await RunningServer.start(manifest: lonely, registry: TestFunctions.registry()) }
    }

    @Test func nonJSONAndEmptyBodiesAre400() async throws {
        let s = try await RunningServer.start(manifest: Self.manifest(base: "http://127.0.0.1:9"), secrets: Self.secrets)
        #expect(try await s.client.request("POST", "/track", body: Data("nope".utf8)).status == 400)
        #expect(try await s.client.request("POST", "/track", json: []).status == 400)
        #expect(try await s.client.request("POST", "/capture", json: ["properties": [:]]).status == 400)
        #expect(try await s.client.request("POST", "/capture", json: ["event": "x", "properties": "no"]).status == 400)
        try await s.stopAndClean()
    }

    @Test func a429PausesSendingForItsRetryAfter() async throws {
        let fake = try await FakeProvider.start { _ in .init(status: 429, headers: ["Retry-After": "30"]) }
        let s = try await RunningServer.start(manifest: Self.manifest(base: fake.url(), flushAt: 2, retryConsumer: false), secrets: Self.secrets)
        _ = try await s.client.request("POST", "/track", json: [["event": "a"], ["event": "b"]])
        #expect(
            await eventually {
                let stats = try? await s.client.get("/q", headers: Self.auth).json.arrayValue?.first { $0["name"] == "analytics" }
                return stats?["pending"] == 1
            }
        )
        // Within the 30 s the next batch goes to the queue without calling the provider.
        _ = try await s.client.request("POST", "/track", json: [["event": "c"], ["event": "d"]])
        #expect(
            await eventually {
                let stats = try? await s.client.get("/q", headers: Self.auth).json.arrayValue?.first { $0["name"] == "analytics" }
                return stats?["pending"] == 2
            }
        )
        #expect(fake.requests.count == 1)
        try await s.stopAndClean()
        try await fake.stop()
    }
}

/// The first request to the fake answers differently from the rest (shared counter).
private let fakeCalls = Mutex(0)
private func fakeCount(_ r: FakeProvider.Recorded) -> Bool {
    fakeCalls.withLock {
        $0 += 1
        return $0 <= 2
    }
}
