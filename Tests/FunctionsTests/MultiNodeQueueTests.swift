import EdgeRuntime
import EdgeStorage
import EdgeTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Real `edge-run serve` processes on one PostgreSQL database share their queues: a send on one
/// node is consumed on another, a killed node's batch is taken over when its lease expires, and
/// `max_concurrency` holds across the nodes.
@Suite("Queues across nodes on one PostgreSQL", .enabled(if: PostgresTestServer.url != nil, PostgresTestServer.skipReason))
struct MultiNodeQueueTests {
    static let token = "multi-node-admin"
    static let auth = ["Authorization": "Bearer \(token)"]

    /// `jobs` consumed (unless `consumer` is nil) by `webhooks.deliver` posting to `receiver`.
    static func manifest(receiver: String, consumer: String?) -> String {
        let consumerJSON = consumer.map { #", "consumer": {"function": "deliver", \#($0)}"# } ?? ""
        return """
            {"secrets": ["ADMIN_TOKEN", "HOOK_SECRET"],
             "queues": [{"name": "jobs"\(consumerJSON)}, {"name": "jobs-dlq"}],
             "functions": [
               {"name": "deliver", "handler": "webhooks.deliver",
                "config": {"url": "\(receiver)", "signing_secret": "HOOK_SECRET", "timeout_seconds": 300}},
               {"name": "admin", "handler": "queues.api", "routes": ["GET /q", "GET /q/*", "POST /q/*"],
                "config": {"token_secret": "ADMIN_TOKEN"}}]}
            """
    }

    /// Nodes on one fresh database, each with its own manifest file.
    final class Cluster: Sendable {
        let folder = TemporaryFolder("multi-node-queues")
        let storage: String
        let nodes = Mutex<[ServeProcess]>([])

        init(_ location: StorageLocation) throws {
            guard case .postgres(let url) = location else { throw CLIRunError(message: "not PostgreSQL") }
            let password = url.password.map { ":" + $0 } ?? ""
            storage = "postgres://\(url.username)\(password)@\(url.host):\(url.port)/\(url.database)?sslmode=disable"
        }

        /// Starts a node serving `manifest`.
        func start(_ name: String, manifest: String) async throws -> (ServeProcess, TestClient) {
            let path = folder.path + "/\(name).json"
            try Data(manifest.utf8).write(to: URL(fileURLWithPath: path))
            let node = try ServeProcess(
                ["--manifest", path, "--port", "0", "--storage", storage, "--log-level", "notice"],
                logPath: folder.path + "/\(name).log",
                environment: ProcessInfo.processInfo.environment.merging(["ADMIN_TOKEN": MultiNodeQueueTests.token, "HOOK_SECRET": "s"]) { $1 }
            )
            nodes.withLock { $0.append(node) }
            return (node, TestClient(base: "http://127.0.0.1:\(try await node.waitUntilServing())"))
        }

        func killAll() {
            for node in nodes.withLock({ $0 }) { node.send(SIGKILL) }
            folder.cleanup()
        }
    }

    /// Whether `jobs` is drained: nothing pending, delayed or in flight.
    static func drained(_ client: TestClient) async throws -> Bool {
        let jobs = try await stats(client)
        return jobs["pending"]?.intValue == 0 && jobs["delayed"]?.intValue == 0 && jobs["in_flight"]?.intValue == 0
    }

    static func stats(_ client: TestClient, _ queue: String = "jobs") async throws -> JSONValue {
        let response = try await client.request("GET", "/q", headers: auth)
        let all = try JSONValue.parse(Data(response.body))
        return all.arrayValue?.first { $0["name"]?.stringValue == queue } ?? .null
    }

    @Test(.timeLimit(.minutes(1)))
    func aMessageSentOnOneNodeIsConsumedOnAnother() async throws {
        let received = Mutex<[String]>([])
        let receiver = try await FakeProvider.start { request in
            received.withLock { $0.append(request.text) }
            return FakeProvider.Reply(status: 204)
        }
        try await TestStorage.with(.postgres) { storage in
            let cluster = try Cluster(storage.location)
            defer { cluster.killAll() }
            // Node A only produces; node B consumes.
            let (_, a) = try await cluster.start("a", manifest: Self.manifest(receiver: receiver.url("/hooks"), consumer: nil))
            let (_, b) = try await cluster.start(
                "b",
                manifest: Self.manifest(
                    receiver: receiver.url("/hooks"),
                    consumer: #""max_batch_size": 10, "max_batch_timeout": 0"#
                )
            )
            let sent = try await a.request("POST", "/q/jobs/messages", headers: Self.auth, json: ["body": "hello from a", "content_type": "text"])
            #expect(sent.status == 202)
            #expect(try await eventually { received.withLock { $0 } == ["hello from a"] })
            #expect(try await eventually { try await Self.drained(a) })
            #expect(try await Self.drained(b))
        }
        try await receiver.stop()
    }

    @Test(.timeLimit(.minutes(2)))
    func theBatchOfAKilledNodeIsDeliveredByAnotherAfterItsLeaseExpires() async throws {
        let received = Mutex<[String: Int]>([:])
        let holding = Mutex(true)
        let receiver = try await FakeProvider.start { request in
            let id = request.headers["x-webhook-id"] ?? ""
            received.withLock { $0[id, default: 0] += 1 }
            // The first node's deliveries hang until it is killed.
            while holding.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
            return FakeProvider.Reply(status: 204)
        }
        try await TestStorage.with(.postgres) { storage in
            let cluster = try Cluster(storage.location)
            defer { cluster.killAll() }
            let manifest = Self.manifest(
                receiver: receiver.url("/hooks"),
                consumer: #""max_batch_size": 5, "max_batch_timeout": 0, "max_retries": 3, "timeout_seconds": 1"#
            )
            let (first, a) = try await cluster.start("a", manifest: manifest)
            let batch: JSONValue = ["messages": .array((0..<5).map { i in ["body": .string("m\(i)"), "content_type": "text"] })]
            let sent = try await a.request("POST", "/q/jobs/messages/batch", headers: Self.auth, json: batch)
            #expect(sent.status == 202)
            let ids = Set(try JSONValue.parse(Data(sent.body))["ids"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            #expect(ids.count == 5)
            #expect(try await eventually { !received.withLock { $0.isEmpty } })
            first.send(SIGKILL)
            _ = try await first.waitForExit()
            holding.withLock { $0 = false }
            let (_, b) = try await cluster.start("b", manifest: manifest)
            // The lease (timeout_seconds + 30 s) expires; node B's lease check takes it over.
            #expect(try await eventually(timeout: 90) { try await Self.drained(b) })
            #expect(Set(received.withLock { $0.keys }) == ids)
            #expect(try await Self.stats(b)["dead_lettered"]?.intValue == 0)
        }
        try await receiver.stop()
    }

    @Test(.timeLimit(.minutes(1)))
    func maxConcurrencyOneHoldsAcrossNodes() async throws {
        let running = Mutex((now: 0, most: 0, done: 0))
        let receiver = try await FakeProvider.start { _ in
            running.withLock {
                $0.now += 1
                $0.most = max($0.most, $0.now)
            }
            // Long enough for the other node to try a batch meanwhile.
            try? await Task.sleep(for: .milliseconds(100))
            running.withLock {
                $0.now -= 1
                $0.done += 1
            }
            return FakeProvider.Reply(status: 204)
        }
        try await TestStorage.with(.postgres) { storage in
            let cluster = try Cluster(storage.location)
            defer { cluster.killAll() }
            let manifest = Self.manifest(
                receiver: receiver.url("/hooks"),
                consumer: #""max_batch_size": 1, "max_batch_timeout": 0, "max_concurrency": 1"#
            )
            let (_, a) = try await cluster.start("a", manifest: manifest)
            let (_, b) = try await cluster.start("b", manifest: manifest)
            for client in [a, b] {
                let batch: JSONValue = ["messages": .array((0..<6).map { i in ["body": .string("m\(i)"), "content_type": "text"] })]
                #expect(try await client.request("POST", "/q/jobs/messages/batch", headers: Self.auth, json: batch).status == 202)
            }
            #expect(try await eventually { running.withLock { $0.done } == 12 })
            #expect(try await eventually { try await Self.drained(a) })
            #expect(running.withLock { $0.most } == 1)
            #expect(running.withLock { $0.done } == 12)
        }
        try await receiver.stop()
    }

    @Test(.timeLimit(.minutes(1)))
    func aFinalFailureMovesToTheDLQAndTheCLIBesideTheNodesRedrivesIt() async throws {
        let failing = Mutex(true)
        let delivered = Mutex<[String]>([])
        let receiver = try await FakeProvider.start { request in
            if failing.withLock({ $0 }) { return FakeProvider.Reply(status: 500) }
            delivered.withLock { $0.append(request.text) }
            return FakeProvider.Reply(status: 204)
        }
        try await TestStorage.with(.postgres) { storage in
            let cluster = try Cluster(storage.location)
            defer { cluster.killAll() }
            let manifest = Self.manifest(
                receiver: receiver.url("/hooks"),
                consumer:
                    #""max_batch_size": 1, "max_batch_timeout": 0, "max_retries": 1, "retry_delay": 0, "dead_letter_queue": "jobs-dlq""#
            )
            let (_, a) = try await cluster.start("a", manifest: manifest)
            let (_, b) = try await cluster.start("b", manifest: manifest)
            let sent = try runEdgeRun(["queues", "send", "jobs", #"{"order":7}"#, "--storage", cluster.storage])
            #expect(sent.status == 0, "\(sent.stderr)")
            #expect(try await eventually { try await Self.stats(b, "jobs-dlq")["pending"]?.intValue == 1 })
            #expect(try await Self.stats(a)["dead_lettered"]?.intValue == 1)
            let peeked = try runEdgeRun(["queues", "peek", "jobs-dlq", "--storage", cluster.storage])
            let line = String(decoding: peeked.stdout, as: UTF8.self)
            #expect(line.contains(#""attempts":2"#) && line.contains(#""last_error":"receiver answered 500""#), "\(line)")
            failing.withLock { $0 = false }
            let redriven = try runEdgeRun(["queues", "redrive", "jobs-dlq", "--to", "jobs", "--storage", cluster.storage])
            #expect(String(decoding: redriven.stdout, as: UTF8.self).contains("moved 1"), "\(redriven.stderr)")
            #expect(try await eventually { delivered.withLock { $0 } == [#"{"order":7}"#] })
            #expect(try await eventually { try await Self.drained(a) })
            #expect(try await Self.stats(a, "jobs-dlq")["pending"]?.intValue == 0)
        }
        try await receiver.stop()
    }
}
