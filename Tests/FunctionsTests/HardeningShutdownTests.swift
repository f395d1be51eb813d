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
        return try await ServeProcess.start(["--manifest", path, "--port", "0", "--data", data.path + "/data", "--log-level", "notice"],
                                            environment: ["STRIPE_API_KEY": "sk_test_shutdown"])
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
        let fake = try await FakeProvider.start { _ in await gate.wait(); return .json(["id": "pi_late"]) }
        let data = TemporaryFolder("shutdown")
        defer { data.cleanup() }
        let server = try await Self.serve(grace: 1, fake: fake, data: data)
        let answer = try await Self.stuckRequest(server, fake: fake)

        let signalled = Date()
        server.send(SIGTERM)
        let status = await server.waitForExit(timeout: 10)
        let took = Date().timeIntervalSince(signalled)
        #expect(status == 0)
        #expect(took >= 0.9, "the stuck request was given its grace")
        #expect(took < 5, "exits about the grace after the signal, not when the provider answers")
        let code = await answer.value
        #expect(code == 503 || code == nil, "503 or a closed connection, got \(String(describing: code))")
        #expect(server.stderr.contains("edge-run stopped"), "the data directory was closed: \(server.stderr)")
        gate.open()
        try await fake.stop()
    }

    @Test func aSecondSignalSkipsTheRestOfTheGrace() async throws {
        let gate = Gate()
        let fake = try await FakeProvider.start { _ in await gate.wait(); return .json(["id": "pi_late"]) }
        let data = TemporaryFolder("shutdown2")
        defer { data.cleanup() }
        let server = try await Self.serve(grace: 60, fake: fake, data: data)
        let answer = try await Self.stuckRequest(server, fake: fake)

        server.send(SIGTERM)
        // Draining: the listener is closed, so new connections are refused.
        let port = server.port
        #expect(await eventually(timeout: 5) { (try? RawConnection(port: port)) == nil })
        #expect(await server.waitForExit(timeout: 0.5) == nil, "the first signal waits for the stuck request")
        let second = Date()
        server.send(SIGTERM)
        let status = await server.waitForExit(timeout: 10)
        #expect(status == 0)
        #expect(Date().timeIntervalSince(second) < 5)
        let code = await answer.value
        #expect(code == 503 || code == nil, "503 or a closed connection, got \(String(describing: code))")
        #expect(server.stderr.contains("edge-run stopped"))
        gate.open()
        try await fake.stop()
    }
}
