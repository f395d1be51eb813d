import EdgeRuntime
import EdgeStorage
import EdgeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Two real `edge-run serve` processes on one PostgreSQL database share their KV, so limits kept
/// in KV hold across the nodes.
@Suite("Several nodes on one PostgreSQL", .enabled(if: PostgresTestServer.url != nil, PostgresTestServer.skipReason))
struct MultiNodeTests {
    static let manifest = """
        {"vars": {"TWILIO_API_BASE": "FAKE_BASE", "TWILIO_FROM_NUMBER": "+15557654321"},
         "secrets": ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "ADMIN_TOKEN"],
         "kv_namespaces": [{"binding": "KV"}],
         "functions": [
           {"name": "sms", "handler": "twilio.sms", "routes": ["POST /sms"]},
           {"name": "kv-admin", "handler": "kv.api", "routes": ["GET /admin/kv/*", "PUT /admin/kv/*"], "config": {"token_secret": "ADMIN_TOKEN"}}
         ]}
        """

    @Test func theSMSRateLimitAndKVWritesHoldAcrossTwoNodes() async throws {
        let fake = try await FakeTwilio()
        let folder = TemporaryFolder("multi-node")
        defer { folder.cleanup() }
        let path = folder.path + "/functions.json"
        try Self.manifest.replacingOccurrences(of: "FAKE_BASE", with: fake.provider.url()).write(toFile: path, atomically: true, encoding: .utf8)
        try await TestStorage.with(.postgres) { storage in
            let environment = ["TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "12345", "ADMIN_TOKEN": "t"]
            var nodes: [ServeProcess] = []
            defer { for node in nodes { node.send(SIGKILL) } }
            nodes = try await Self.startNodes(2, manifest: path, storage: storage.location, environment: environment)
            let clients = nodes.map { TestClient(base: $0.base) }
            // Alternating nodes: 5 messages per number per hour in total, not per node.
            var statuses: [Int] = []
            for i in 0..<8 {
                statuses.append(try await clients[i % 2].request("POST", "/sms", json: ["to": "+15551230000", "body": .string("m\(i)")]).status)
            }
            #expect(statuses.filter { $0 == 201 }.count == 5, "\(statuses)")
            #expect(statuses.filter { $0 == 429 }.count == 3, "\(statuses)")
            #expect(fake.calls.count == 5)
            // A write on one node is read on the other at once.
            let auth = ["Authorization": "Bearer t"]
            #expect(try await clients[0].request("PUT", "/admin/kv/KV/values/shared", headers: auth, body: Data("from a".utf8)).status == 200)
            let read = try await clients[1].request("GET", "/admin/kv/KV/values/shared", headers: auth)
            #expect(read.status == 200)
            #expect(String(decoding: read.body, as: UTF8.self) == "from a")
            for client in clients {
                let health = try await client.get("/_edge/health")
                #expect(health.status == 200)
            }
            for node in nodes { node.send(SIGTERM) }
            for node in nodes { #expect(try await node.waitForExit() == 0, "\(node.log)") }
            nodes.removeAll()
        }
        try await fake.provider.stop()
    }

    /// Stripe retries a webhook, and behind a load balancer the retry can reach another node:
    /// the event is still enqueued once, whichever node sees it first and however many
    /// deliveries race on the two nodes.
    @Test func stripeDedupeHoldsAcrossTwoNodes() async throws {
        let fixtures = try StripeFixtures.load()
        let folder = TemporaryFolder("multi-node-stripe")
        defer { folder.cleanup() }
        let path = folder.path + "/functions.json"
        try StripeManifest.make(consumer: false).serializedString.write(toFile: path, atomically: true, encoding: .utf8)
        try await TestStorage.with(.postgres) { storage in
            var nodes: [ServeProcess] = []
            defer { for node in nodes { node.send(SIGKILL) } }
            nodes = try await Self.startNodes(2, manifest: path, storage: storage.location, environment: StripeManifest.secrets(fixtures))
            let clients = nodes.map { TestClient(base: $0.base) }
            // Signed now: the nodes check the timestamp against their own clocks.
            let now = Int64(Date().timeIntervalSince1970)
            func deliver(_ event: (body: String, signature: String), to client: TestClient) async throws -> Int {
                try await client.request(
                    "POST",
                    "/webhooks/stripe",
                    headers: ["Content-Type": "application/json", "Stripe-Signature": event.signature],
                    body: Data(event.body.utf8)
                ).status
            }
            let first = signedEvent(id: "evt_multi_1", type: "invoice.paid", object: ["id": "in_1"], created: now, secret: fixtures.secret, t: now)
            // One node after the other, then back: every delivery is acknowledged.
            for i in 0..<4 { #expect(try await deliver(first, to: clients[i % 2]) == 200) }
            // Eight deliveries of another event at once, half on each node.
            let second = signedEvent(
                id: "evt_multi_2",
                type: "checkout.session.completed",
                object: ["id": "cs_1"],
                created: now,
                secret: fixtures.secret,
                t: now
            )
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<8 { group.addTask { try await deliver(second, to: clients[i % 2]) } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 200, count: 8), "\(statuses)")
            for client in clients {
                let peeked = try await client.get("/q/payments/messages", headers: StripeManifest.auth)
                let ids = (peeked.json["messages"]?.arrayValue ?? []).compactMap { $0["body"]?["id"]?.stringValue }
                #expect(ids.sorted() == ["evt_multi_1", "evt_multi_2"], "\(peeked.json)")
            }
            for node in nodes { node.send(SIGTERM) }
            for node in nodes { #expect(try await node.waitForExit() == 0, "\(node.log)") }
            nodes.removeAll()
        }
    }

    /// `(module (memory (export "memory") 1) (func (export "_start")))`: a WASI command that
    /// does nothing (bytes from `wat2wasm`), the cron's function.
    static let emptyCommand: [UInt8] = [
        0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
        0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x13, 0x02, 0x06, 0x6D, 0x65, 0x6D, 0x6F, 0x72, 0x79, 0x02, 0x00,
        0x06, 0x5F, 0x73, 0x74, 0x61, 0x72, 0x74, 0x00, 0x00, 0x0A, 0x04, 0x01, 0x02, 0x00, 0x0B,
    ]

    /// Both nodes schedule the same every-minute cron; at the next minute exactly one of them
    /// runs it (seen on the nodes' `/_edge/tail`), the other logs that another node ran it.
    /// Waits for a real minute boundary (up to 60 s): the schedule is the server's clock.
    @Test func aCronFiresOncePerTickAcrossTwoNodes() async throws {
        let folder = TemporaryFolder("multi-node-cron")
        defer { folder.cleanup() }
        try Data(Self.emptyCommand).write(to: URL(fileURLWithPath: folder.path + "/tick.wasm"))
        let path = folder.path + "/functions.json"
        try """
        {"secrets": ["ADMIN_TOKEN"],
         "kv_namespaces": [{"binding": "KV"}],
         "functions": [
           {"name": "tick", "handler": "wasm", "config": {"module": "tick.wasm"}},
           {"name": "kv-admin", "handler": "kv.api", "routes": ["GET /admin/kv/*"], "config": {"token_secret": "ADMIN_TOKEN"}}
         ],
         "crons": [{"schedule": "* * * * *", "function": "tick"}]}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        try await TestStorage.with(.postgres) { storage in
            let storageURL = try #require(Self.urlWithPassword(storage.location))
            var nodes: [ServeProcess] = []
            defer { for node in nodes { node.send(SIGKILL) } }
            for _ in 0..<2 {
                nodes.append(
                    try await ServeProcess.start(
                        ["--manifest", path, "--port", "0", "--storage", storageURL, "--log-level", "debug"],
                        environment: ["ADMIN_TOKEN": "t"]
                    )
                )
            }
            var tails: [TailReader] = []
            for node in nodes {
                let (tail, head) = try await TailReader.open(port: node.port, token: "t")
                #expect(head.hasPrefix("HTTP/1.1 200"), "\(head)")
                tails.append(tail)
            }
            defer { for tail in tails { tail.disconnect() } }
            // The first tick either node runs (within the next minute and a margin).
            let isRun: (JSONValue) -> Bool = { $0["type"] == "scheduled" }
            var run: (node: Int, event: JSONValue)?
            let deadline = ContinuousClock.now + .seconds(80)
            while run == nil, ContinuousClock.now < deadline {
                for (i, tail) in tails.enumerated() where run == nil {
                    if let event = await tail.next(timeout: 0.2, where: isRun) { run = (i, event) }
                }
            }
            let (winner, event) = try #require(run, "no node ran the cron within 80 s")
            let loser = 1 - winner
            // The other node decided too: it lost the claim for that tick.
            let decided = ContinuousClock.now + .seconds(10)
            while !nodes[loser].log.contains("cron tick run by another node"), ContinuousClock.now < decided {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(nodes[loser].log.contains("cron tick run by another node"), "\(nodes[loser].log.suffix(2000))")
            let time = try #require(event["scheduled_time"]?.stringValue)
            #expect(!tails[loser].events.contains { isRun($0) && $0["scheduled_time"]?.stringValue == time })
            guard case .postgres(let url) = storage.location else { return }
            #expect(try await PostgresTestServer.scalar(url, "SELECT count(*) FROM edge_run.cron_ticks") >= 1)
            for node in nodes { node.send(SIGTERM) }
            for node in nodes { #expect(try await node.waitForExit() == 0, "\(node.log.suffix(2000))") }
            nodes.removeAll()
        }
    }

    /// `limits.storage_pool_size` bounds the connections a node opens, however many requests
    /// wait (plus the health watch's own one).
    @Test func aNodeOpensAtMostStoragePoolSizeConnections() async throws {
        let folder = TemporaryFolder("multi-node-pool")
        defer { folder.cleanup() }
        let path = folder.path + "/functions.json"
        try """
        {"secrets": ["ADMIN_TOKEN"], "limits": {"storage_pool_size": 2},
         "kv_namespaces": [{"binding": "KV"}],
         "functions": [{"name": "kv-admin", "handler": "kv.api", "routes": ["PUT /admin/kv/*"], "config": {"token_secret": "ADMIN_TOKEN"}}]}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        try await TestStorage.with(.postgres) { storage in
            guard case .postgres(let url) = storage.location else { return }
            let node = try await ServeProcess.start(
                ["--manifest", path, "--port", "0", "--storage", try #require(Self.urlWithPassword(storage.location))],
                environment: ["ADMIN_TOKEN": "t"]
            )
            defer { node.send(SIGKILL) }
            let client = TestClient(base: node.base)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<24 {
                    group.addTask {
                        try await client.request("PUT", "/admin/kv/KV/values/k\(i)", headers: ["Authorization": "Bearer t"], body: Data("v".utf8))
                            .status
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 200, count: 24))
            let connections = try await PostgresTestServer.scalar(
                url,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'edge-run'"
            )
            #expect((1...3).contains(connections), "\(connections) connections")
            node.send(SIGTERM)
            #expect(try await node.waitForExit() == 0)
        }
    }

    /// The URL text of a PostgreSQL location, password included (the nodes' `--storage`).
    /// Starts `count` `edge-run serve` nodes on `manifest` and the PostgreSQL `storage`, one
    /// after the other, each serving before the next starts.
    static func startNodes(
        _ count: Int,
        manifest: String,
        storage: StorageLocation,
        environment: [String: String]
    ) async throws
        -> [ServeProcess]
    {
        let storageURL = try #require(urlWithPassword(storage))
        var nodes: [ServeProcess] = []
        for _ in 0..<count {
            do {
                nodes.append(
                    try await ServeProcess.start(
                        ["--manifest", manifest, "--port", "0", "--storage", storageURL, "--log-level", "notice"],
                        environment: environment
                    )
                )
            } catch {
                for node in nodes { node.send(SIGKILL) }
                throw error
            }
        }
        return nodes
    }

    static func urlWithPassword(_ location: StorageLocation) -> String? {
        guard case .postgres(let url) = location else { return nil }
        let password = url.password.map { ":" + $0 } ?? ""
        return "postgres://\(url.username)\(password)@\(url.host):\(url.port)/\(url.database)?sslmode=disable"
    }
}
