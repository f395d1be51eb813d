import EdgeRuntime
import EdgeTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `limits.shutdown_grace_seconds` with the real binary and real signals: a request stuck in a
/// handler (a provider that never answers) must not hold the process past the grace.
@Suite("Hardening: shutdown grace (edge-run serve)", .serialized)
struct HardeningShutdownTests {
    /// A `stripe.payment_intent` route whose Stripe never answers until `gate` opens.
    static func serve(grace: Double, fake: FakeProvider, data: TemporaryFolder) async throws -> ServeProcess {
        let manifest: JSONValue = [
            "vars": ["STRIPE_API_BASE": .string(fake.url())],
            "secrets": ["STRIPE_API_KEY"],
            "limits": ["shutdown_grace_seconds": .number(grace), "handler_timeout_seconds": 60],
            "kv_namespaces": [["binding": "KV"]],
            "functions": [["name": "pay", "handler": "stripe.payment_intent", "routes": ["POST /pay"], "config": ["kv": "KV"]]],
        ]
        let path = data.path + "/functions.json"
        try manifest.serialized().write(to: URL(fileURLWithPath: path))
        return try await ServeProcess.start(
            ["--manifest", path, "--port", "0", "--data", data.path + "/data", "--log-level", "notice"],
            environment: ["STRIPE_API_KEY": "sk_test_shutdown"]
        )
    }

    /// Sends the stuck request; returns once the fake provider holds it.
    static func stuckRequest(_ server: ServeProcess, fake: FakeProvider) async throws -> Task<Int?, Never> {
        let client = TestClient(base: server.base)
        let answer = Task { () -> Int? in
            (try? await client.request("POST", "/pay", json: ["amount": 100, "currency": "usd", "customer": "cus_1"]))?.status
        }
        #expect(await eventually { fake.requests.count == 1 })
        return answer
    }

    @Test func aStuckRequestGetsTheGraceThen503AndTheProcessExits0() async throws {
        let gate = Gate()
        let fake = try await FakeProvider.start { _ in
            await gate.wait()
            return .json(["id": "pi_late"])
        }
        let data = TemporaryFolder("shutdown")
        defer { data.cleanup() }
        let server = try await Self.serve(grace: 1, fake: fake, data: data)
        let answer = try await Self.stuckRequest(server, fake: fake)

        let signalled = Date()
        server.send(SIGTERM)
        let status = await server.exitStatus(within: 10)
        let took = Date().timeIntervalSince(signalled)
        #expect(status == 0)
        #expect(took >= 0.9, "the stuck request was given its grace")
        // The provider is still held (the gate opens below), so an exit at all means the grace,
        // not the provider's answer, ended the request; a wall-clock bound here only measured load.
        let code = await answer.value
        #expect(code == 503 || code == nil, "503 or a closed connection, got \(String(describing: code))")
        #expect(server.stderr.contains("edge-run stopped"), "the data directory was closed: \(server.stderr)")
        gate.open()
        try await fake.stop()
    }

    @Test func aSecondSignalSkipsTheRestOfTheGrace() async throws {
        let gate = Gate()
        let fake = try await FakeProvider.start { _ in
            await gate.wait()
            return .json(["id": "pi_late"])
        }
        let data = TemporaryFolder("shutdown2")
        defer { data.cleanup() }
        let server = try await Self.serve(grace: 60, fake: fake, data: data)
        let answer = try await Self.stuckRequest(server, fake: fake)

        server.send(SIGTERM)
        // Draining: the listener is closed, so new connections are refused.
        let port = server.port
        #expect(await eventually(timeout: 5) { (try? RawConnection(port: port)) == nil })
        #expect(await server.exitStatus(within: 0.5) == nil, "the first signal waits for the stuck request")
        let second = Date()
        server.send(SIGTERM)
        let status = await server.exitStatus(within: 10)
        #expect(status == 0)
        #expect(Date().timeIntervalSince(second) < 5)
        let code = await answer.value
        #expect(code == 503 || code == nil, "503 or a closed connection, got \(String(describing: code))")
        #expect(server.stderr.contains("edge-run stopped"))
        gate.open()
        try await fake.stop()
    }

    @Test func aHalfSentRequestDoesNotHoldTheShutdown() async throws {
        let fake = try await FakeProvider.start()
        let data = TemporaryFolder("shutdown3")
        defer { data.cleanup() }
        let server = try await Self.serve(grace: 1, fake: fake, data: data)
        let connection = try RawConnection(port: server.port)
        connection.send("POST /pay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"amount\":")
        // One full exchange on another connection: by then the server has read the half request.
        #expect(try await TestClient(base: server.base).get("/_edge/health").status == 200)
        let signalled = Date()
        server.send(SIGTERM)
        #expect(await server.exitStatus(within: 10) == 0)
        #expect(Date().timeIntervalSince(signalled) < 5)
        let answer = await connection.receive(timeout: 2)
        #expect(answer.closed)
        #expect(!answer.text.contains(" 500 "), "never an internal error: \(answer.text)")
        try await fake.stop()
    }

    @Test func aStuckConsumerBatchIsCancelledAfterTheGrace() async throws {
        let gate = Gate()
        let fake = try await FakeProvider.start { _ in
            await gate.wait()
            return .init(status: 200)
        }
        let data = TemporaryFolder("shutdown4")
        defer { data.cleanup() }
        let manifest: JSONValue = [
            "secrets": ["ADMIN_TOKEN", "HOOK_SECRET"],
            "limits": ["shutdown_grace_seconds": 1],
            "queues": [["name": "outbound", "consumer": ["function": "deliver", "max_batch_size": 1, "max_batch_timeout": 0]]],
            "functions": [
                ["name": "deliver", "handler": "webhooks.deliver", "config": ["url": .string(fake.url("/hook")), "signing_secret": "HOOK_SECRET"]],
                ["name": "queues-admin", "handler": "queues.api", "routes": ["POST /admin/queues/*"], "config": ["token_secret": "ADMIN_TOKEN"]],
            ],
        ]
        let path = data.path + "/functions.json"
        try manifest.serialized().write(to: URL(fileURLWithPath: path))
        let server = try await ServeProcess.start(
            ["--manifest", path, "--port", "0", "--data", data.path + "/data", "--log-level", "notice"],
            environment: ["ADMIN_TOKEN": "t", "HOOK_SECRET": "s"]
        )
        let sent = try await TestClient(base: server.base).request(
            "POST",
            "/admin/queues/outbound/messages",
            headers: ["Authorization": "Bearer t"],
            json: ["body": ["n": 1]]
        )
        #expect(sent.status == 202)
        #expect(await eventually { fake.requests.count == 1 }, "the batch is running and stuck")
        let signalled = Date()
        server.send(SIGTERM)
        #expect(await server.exitStatus(within: 15) == 0)
        #expect(Date().timeIntervalSince(signalled) < 5, "cancelled at the end of the grace, not left to finish")
        #expect(server.stderr.contains("edge-run stopped"))
        gate.open()
        try await fake.stop()
    }
}
