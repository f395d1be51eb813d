import EdgeRuntime
import EdgeStorage
import EdgeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real `edge-run serve` whose PostgreSQL goes away and comes back (the network between
/// them is an in-test forwarder): it stays up, says so, and recovers by itself.
@Suite("PostgreSQL unreachable: degraded mode", .enabled(if: PostgresTestServer.url != nil, PostgresTestServer.skipReason))
struct DegradedStorageTests {
    static let manifest = """
        {"secrets": ["ADMIN_TOKEN"],
         "kv_namespaces": [{"binding": "KV"}],
         "functions": [
           {"name": "kv-admin", "handler": "kv.api", "routes": ["GET /admin/kv/*", "PUT /admin/kv/*"], "config": {"token_secret": "ADMIN_TOKEN"}}
         ]}
        """

    @Test func healthAndStorageRequestsAnswer503WhilePostgreSQLIsAwayAndRecoverWhenItIsBack() async throws {
        let folder = TemporaryFolder("degraded")
        defer { folder.cleanup() }
        let path = folder.path + "/functions.json"
        try Self.manifest.write(toFile: path, atomically: true, encoding: .utf8)
        try await TestStorage.with(.postgres) { storage in
            guard case .postgres(var url) = storage.location else { return }
            let network = try TCPForwarder(to: url.port)
            defer { network.cut() }
            url.port = network.port
            let password = url.password.map { ":" + $0 } ?? ""
            let storageURL = "postgres://\(url.username)\(password)@127.0.0.1:\(network.port)/\(url.database)?sslmode=disable"
            let node = try await ServeProcess.start(
                ["--manifest", path, "--port", "0", "--storage", storageURL, "--log-level", "notice"],
                environment: ["ADMIN_TOKEN": "t"]
            )
            defer { node.send(SIGKILL) }
            let client = TestClient(base: node.base)
            let auth = ["Authorization": "Bearer t"]
            #expect(try await client.request("PUT", "/admin/kv/KV/values/kept", headers: auth, body: Data("acknowledged".utf8)).status == 200)
            #expect(try await client.get("/_edge/health").status == 200)

            network.cut()
            let degraded = try await Self.poll(client, "/_edge/health", until: 503, within: 20)
            #expect(degraded.json["status"] == "degraded", "\(degraded.json)")
            let reason = try #require(degraded.json["storage"]?.stringValue)
            #expect(reason.contains("127.0.0.1:\(network.port)"), "\(reason)")
            #expect(!reason.contains(password.dropFirst()) || password.isEmpty, "\(reason)")
            let refused = try await client.get("/admin/kv/KV/values/kept", headers: auth)
            #expect(refused.status == 503)
            #expect(refused.json["error"] == "storage unavailable", "\(refused.json)")
            #expect(refused.json["request_id"]?.stringValue?.isEmpty == false)
            // Not a storage request: still served.
            #expect(try await client.request("GET", "/admin/kv/KV/values/kept").status == 401)

            try network.restore()
            _ = try await Self.poll(client, "/_edge/health", until: 200, within: 30)
            // The pool reconnects on its own backoff: the value the node acknowledged is back.
            let back = try await Self.poll(client, "/admin/kv/KV/values/kept", headers: auth, until: 200, within: 60)
            #expect(String(decoding: back.body, as: UTF8.self) == "acknowledged")
            #expect(node.process.isRunning)
            #expect(node.log.contains("PostgreSQL unreachable"), "\(node.log.suffix(2000))")
            #expect(node.log.contains("PostgreSQL reachable again"), "\(node.log.suffix(2000))")
            node.send(SIGTERM)
            #expect(try await node.waitForExit() == 0, "\(node.log.suffix(2000))")
        }
    }

    /// GETs `path` until it answers `status` (every 100 ms, at most `seconds`); the last answer.
    static func poll(
        _ client: TestClient,
        _ path: String,
        headers: [String: String] = [:],
        until status: Int,
        within seconds: Double
    ) async throws
        -> FetchResponse
    {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while true {
            let answer = try await client.get(path, headers: headers)
            if answer.status == status || ContinuousClock.now >= deadline {
                #expect(answer.status == status, "\(path) did not answer \(status) within \(seconds) s: \(answer.status) \(answer.json)")
                return answer
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
