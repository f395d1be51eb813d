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
        {"vars": {"TWILIO_API_BASE": "API_BASE", "TWILIO_FROM_NUMBER": "+15557654321"},
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
        try Self.manifest.replacingOccurrences(of: "API_BASE", with: fake.provider.url()).write(toFile: path, atomically: true, encoding: .utf8)
        try await TestStorage.with(.postgres) { storage in
            guard case .postgres(let url) = storage.location else { return }
            let password = url.password.map { ":" + $0 } ?? ""
            let storageURL = "postgres://\(url.username)\(password)@\(url.host):\(url.port)/\(url.database)?sslmode=disable"
            let environment = ["TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "12345", "ADMIN_TOKEN": "t"]
            var nodes: [ServeProcess] = []
            defer { for node in nodes { node.send(SIGKILL) } }
            for _ in 0..<2 {
                nodes.append(try await ServeProcess.start(
                    ["--manifest", path, "--port", "0", "--storage", storageURL, "--log-level", "notice"], environment: environment))
            }
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
}
