import EdgeRuntime
import EdgeTestSupport
import Foundation
import Functions
import KVStore
import Queues
import Testing

/// Reloading a running server's manifest (`EdgeServer.reload`): routes, functions, secrets,
/// queue consumers and crons change; connections and requests in flight are kept.
@Suite("Reload without restart (in-process)", .serialized)
struct ReloadTests {
    static func registry() -> FunctionRegistry {
        let registry = TestFunctions.registry()
        registry.register("test.tagged", TaggedFunction.self)
        registry.register("test.reload_hold", ReloadHoldFunction.self)
        return registry
    }

    /// A manifest of `test.tagged` functions: `routes` maps a function name to its routes.
    static func manifest(
        _ functions: [(name: String, routes: [String])],
        queues: [JSONValue] = [],
        crons: [JSONValue] = [],
        extra: [String: JSONValue] = [:]
    ) -> JSONValue {
        var root: [String: JSONValue] = [
            "secrets": ["SECRET"],
            "kv_namespaces": [["binding": "KV"]],
            "functions": .array(
                functions.map { f in
                    [
                        "name": .string(f.name), "handler": "test.tagged", "routes": .array(f.routes.map { .string($0) }),
                        "config": ["tag": .string(f.name)],
                    ]
                }
            ),
            "queues": .array(queues),
            "crons": .array(crons),
        ]
        root.merge(extra) { $1 }
        return .object(root)
    }

    static func start(_ manifest: JSONValue, testScheduled: Bool = false) async throws -> RunningServer {
        try await RunningServer.start(manifest: manifest, secrets: ["SECRET": "one"], registry: registry(), testScheduled: testScheduled)
    }

    /// Validates `manifest` as `check` does and reloads `s` with it.
    @discardableResult
    static func reload(_ s: RunningServer, _ manifest: JSONValue, secrets: [String: String] = ["SECRET": "one"]) async throws -> ReloadOutcome {
        let registry = registry()
        let path = s.data.path
        return await s.server.reload {
            let loaded = try ManifestLoader(registry: registry).validate(
                manifest,
                file: "functions.json",
                baseDirectory: path,
                environment: secrets,
                envFile: [:]
            )
            return (loaded.manifest, loaded.secrets)
        }
    }

    @Test func aReloadAddsAndRemovesRoutesAndSeesANewSecret() async throws {
        let s = try await Self.start(Self.manifest([("v1", ["GET /a"])]))
        defer { s.data.cleanup() }
        #expect(try await s.client.get("/a").json["secret"] == "one")

        let outcome = try await Self.reload(s, Self.manifest([("v2", ["GET /b"])]), secrets: ["SECRET": "two"])
        #expect(outcome == .reloaded(generation: 2))
        let b = try await s.client.get("/b")
        #expect(b.status == 200)
        #expect(b.json["tag"] == "v2")
        #expect(b.json["secret"] == "two", "the new secret value is seen after the reload")
        #expect(try await s.client.get("/a").status == 404)
        #expect(s.server.manifest.functions.map(\.name) == ["v2"])
        try await s.stop()
    }

    @Test func anInvalidManifestIsRefusedWithEveryProblemAndTheOldOneServes() async throws {
        let s = try await Self.start(Self.manifest([("v1", ["GET /a"])]))
        defer { s.data.cleanup() }
        let broken: JSONValue = [
            "functions": [
                ["name": "x", "handler": "no.such", "routes": ["GET /x"]], ["name": "y", "handler": "test.tagged", "routes": ["FETCH /y"]],
            ]
        ]
        let outcome = try await Self.reload(s, broken)
        guard case .refused(let problems) = outcome else {
            Issue.record("expected a refusal, got \(outcome)")
            return
        }
        #expect(problems.contains { $0.contains("functions[0].handler") }, "\(problems)")
        #expect(problems.contains { $0.contains("functions[1].routes[0]") }, "every problem is reported: \(problems)")
        #expect(try await s.client.get("/a").json["tag"] == "v1")
        #expect(try await s.client.get("/x").status == 404)
        // The next valid one still takes: the generation number counts accepted manifests only.
        #expect(try await Self.reload(s, Self.manifest([("v3", ["GET /a"])])) == .reloaded(generation: 2))
        #expect(try await s.client.get("/a").json["tag"] == "v3")
        try await s.stop()
    }

    @Test func aRequestInFlightFinishesOnTheOldFunctionWhileNewOnesGetTheNew() async throws {
        let hold: JSONValue = [
            "secrets": ["SECRET"],
            "functions": [["name": "old", "handler": "test.reload_hold", "routes": ["GET /slow"]]],
        ]
        let s = try await Self.start(hold)
        defer { s.data.cleanup() }
        ReloadHoldFunction.gate.reset()
        let client = s.client
        let slow = Task { try await client.get("/slow") }
        #expect(await eventually { ReloadHoldFunction.gate.waiting == 1 })

        #expect(try await Self.reload(s, Self.manifest([("new", ["GET /slow"])])) == .reloaded(generation: 2))
        let fresh = try await s.client.get("/slow")
        #expect(fresh.status == 200)
        #expect(fresh.json["tag"] == "new")
        ReloadHoldFunction.gate.open()
        let old = try await slow.value
        #expect(old.status == 200)
        #expect(String(decoding: old.body, as: UTF8.self) == "old generation")
        try await s.stop()
    }

    @Test func aKeptAliveConnectionStaysOpenAndItsNextRequestGetsTheNewGeneration() async throws {
        let s = try await Self.start(Self.manifest([("v1", ["GET /a"])]))
        defer { s.data.cleanup() }
        let connection = try RawConnection(port: s.port)
        let request = "GET /a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        connection.send(request)
        let first = await connection.receive(timeout: 5, untilResponse: true)
        #expect(first.text.contains("\"tag\":\"v1\""), "\(first.text)")

        #expect(try await Self.reload(s, Self.manifest([("v2", ["GET /a"])])) == .reloaded(generation: 2))
        #expect(connection.send(request))
        let second = await connection.receive(timeout: 5, untilResponse: true)
        #expect(!second.closed, "the same connection serves the next request")
        #expect(second.text.hasPrefix("HTTP/1.1 200"), "\(second.text)")
        #expect(second.text.contains("\"tag\":\"v2\""), "\(second.text)")
        try await s.stop()
    }

    @Test func aConsumerChangeTakesEffectAndEveryMessageIsDeliveredExactlyOnce() async throws {
        func queue(_ function: String, batch: Int) -> JSONValue {
            ["name": "jobs", "consumer": ["function": .string(function), "max_batch_size": .number(Double(batch)), "max_batch_timeout": 0]]
        }
        let s = try await Self.start(Self.manifest([("v1", []), ("v2", [])], queues: [queue("v1", batch: 5)]))
        defer { s.data.cleanup() }
        let total = 60
        let kv = try s.server.env.kv("KV")
        for i in 0..<total / 2 { _ = try await s.server.broker.send(.text("m\(i)"), to: "jobs") }
        // Reload while the first consumer is still working through its batches.
        #expect(await eventually { (try? await kv.getText("seen:m0")) != nil })
        #expect(try await Self.reload(s, Self.manifest([("v1", []), ("v2", [])], queues: [queue("v2", batch: 2)])) == .reloaded(generation: 2))
        for i in total / 2..<total { _ = try await s.server.broker.send(.text("m\(i)"), to: "jobs") }

        #expect(
            await eventually(timeout: 30) {
                var count = 0
                for i in 0..<total where (try? await kv.getText("seen:m\(i)")) != nil { count += 1 }
                return count == total
            }
        )
        var handledBy: [String: Int] = [:]
        for i in 0..<total {
            let seen = try #require(try await kv.getText("seen:m\(i)"))
            #expect(!seen.contains(","), "m\(i) was delivered more than once: \(seen)")
            handledBy[seen, default: 0] += 1
        }
        #expect(handledBy["v2", default: 0] >= total / 2, "the new consumer function took over: \(handledBy)")
        #expect(try await kv.getText("batch-max:v2").flatMap(Int.init) ?? 99 <= 2, "the new max_batch_size applies")
        let broker = s.server.broker
        #expect(await eventually { (try? await broker.stats("jobs")).map { $0.delivered == total && $0.inFlight == 0 } ?? false })
        let stats = try await broker.stats("jobs")
        #expect(stats.pending == 0 && stats.retried == 0, "no delivery was interrupted or repeated: \(stats)")
        try await s.stop()
    }

    @Test func aCronAddedByAReloadFiresThroughTestScheduled() async throws {
        let s = try await Self.start(Self.manifest([("v1", ["GET /a"])]), testScheduled: true)
        defer { s.data.cleanup() }
        #expect(try await s.client.get("/__scheduled").json["ran"] == 0)
        let crons: [JSONValue] = [["schedule": "*/5 * * * *", "function": "v2"]]
        #expect(try await Self.reload(s, Self.manifest([("v1", ["GET /a"]), ("v2", [])], crons: crons)) == .reloaded(generation: 2))
        #expect(try await s.client.get("/__scheduled").json["ran"] == 1)
        #expect(try await s.server.env.kv("KV").getText("tick") == "v2")
        try await s.stop()
    }

    @Test func serverWideLimitsNeedARestartAndKeepTheirRunningValues() async throws {
        let s = try await Self.start(Self.manifest([("v1", ["GET /a"])], extra: ["limits": ["max_connections": 50]]))
        defer { s.data.cleanup() }
        let changed = Self.manifest([("v2", ["GET /a"])], extra: ["limits": ["max_connections": 7, "idle_timeout_seconds": 5]])
        #expect(try await Self.reload(s, changed) == .reloaded(generation: 2))
        #expect(s.server.manifest.serverLimits.maxConnections == 50)
        #expect(s.server.manifest.serverLimits.idleTimeoutSeconds == 60)
        #expect(try await s.client.get("/a").json["tag"] == "v2", "the rest of the manifest applies")
        try await s.stop()
    }

    @Test func theOldFunctionsAreFlushedOnceTheyAreRetired() async throws {
        let fake = try await FakeProvider.start(AnalyticsTests.mixpanelOK)
        // An hour's interval: only the retirement of the first generation sends its buffer.
        let manifest = AnalyticsTests.manifest(base: fake.url())
        let s = try await RunningServer.start(manifest: manifest, secrets: AnalyticsTests.secrets)
        defer { s.data.cleanup() }
        #expect(try await s.client.request("POST", "/track", json: ["event": "before-reload"]).status == 202)
        #expect(!fake.requests.contains { $0.path == "/track" })
        let outcome = await s.server.reload {
            let loaded = try ManifestLoader(registry: BuiltinFunctions.registry()).validate(
                manifest,
                file: "functions.json",
                baseDirectory: s.data.path,
                environment: AnalyticsTests.secrets,
                envFile: [:]
            )
            return (loaded.manifest, loaded.secrets)
        }
        #expect(outcome == .reloaded(generation: 2))
        #expect(await eventually { fake.requests.contains { $0.path == "/track" } }, "the retired generation's buffer was sent")
        let sent = try #require(fake.requests.first { $0.path == "/track" })
        #expect(AnalyticsTests.mixpanelData(sent).first?["event"] == "before-reload")
        try await s.stop()
        try await fake.stop()
    }

    @Test func aReloadAfterShutdownBeganIsRefused() async throws {
        let s = try await Self.start(Self.manifest([("v1", ["GET /a"])]))
        defer { s.data.cleanup() }
        try await s.stop()
        #expect(try await Self.reload(s, Self.manifest([("v2", ["GET /b"])])) == .stopping)
    }
}

/// Answers its `config.tag` and the `SECRET` it sees; as a consumer, records in KV which tag
/// handled each message (`seen:<body>`, a second delivery appends `,<tag>`) and the largest
/// batch (`batch-max:<tag>`); as a cron, writes its tag to `tick`.
struct TaggedFunction: EdgeFunction {
    static var kinds: FunctionKinds { [.fetch, .queue, .scheduled] }
    let tag: String
    init(config: FunctionConfig) throws { tag = try config.string("tag") ?? "untagged" }

    func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        .json(["tag": .string(tag), "secret": .string(env.secret("SECRET") ?? "")])
    }

    func queue(_ batch: MessageBatch, env: Env) async throws {
        let kv = try env.kv("KV")
        let largest = Int(try await kv.getText("batch-max:\(tag)") ?? "0") ?? 0
        if batch.messages.count > largest { try await kv.put("batch-max:\(tag)", text: String(batch.messages.count)) }
        for message in batch.messages {
            let key = "seen:\(message.body.text ?? "")"
            let before = try await kv.getText(key)
            try await kv.put(key, text: before.map { "\($0),\(tag)" } ?? tag)
        }
        // Slow enough that a reload lands while batches are in flight.
        try await Task.sleep(for: .milliseconds(20))
        batch.ackAll()
    }

    func scheduled(_ event: ScheduledEvent, env: Env) async throws {
        try await env.kv("KV").put("tick", text: tag)
    }
}

/// Holds each request until the test opens ``gate``, then answers "old generation".
struct ReloadHoldFunction: EdgeFunction {
    static let gate = Gate()
    init(config: FunctionConfig) throws {}
    func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        await Self.gate.wait()
        return .text("old generation")
    }
}
