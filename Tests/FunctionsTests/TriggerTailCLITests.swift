import EdgeRuntime
import EdgeTestSupport
import Foundation
import Functions
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `edge-run trigger` and `edge-run tail`, the real binary against a real `edge-run serve`.
@Suite("edge-run trigger and tail")
struct TriggerTailCLITests {
    static let manifest = """
        {"secrets": ["ADMIN_TOKEN", "STRIPE_WEBHOOK_SECRET", "TWILIO_AUTH_TOKEN"],
         "kv_namespaces": [{"binding": "KV"}],
         "queues": [{"name": "payments", "consumer": {"function": "stripe-events", "max_batch_timeout": 0}}],
         "functions": [
           {"name": "admin", "handler": "queues.api", "routes": ["GET /admin/queues", "GET /admin/queues/*"], "config": {"token_secret": "ADMIN_TOKEN"}},
           {"name": "stripe-webhook", "handler": "stripe.webhook", "routes": ["POST /webhooks/stripe"], "config": {"queue": "payments", "kv": "KV"}},
           {"name": "stripe-events", "handler": "stripe.events", "config": {"kv": "KV"}},
           {"name": "twilio-status", "handler": "twilio.status", "routes": ["POST /twilio/status"], "config": {"kv": "KV"}}]}
        """
    static let devVars = "ADMIN_TOKEN=t\nSTRIPE_WEBHOOK_SECRET=whsec_cli_test\nTWILIO_AUTH_TOKEN=tw\n"

    /// A project folder (`functions.json`, `.dev.vars`) and a server running it.
    static func start() async throws -> (TemporaryFolder, ServeProcess) {
        let folder = TemporaryFolder("trigger")
        try Data(manifest.utf8).write(to: URL(fileURLWithPath: folder.path + "/functions.json"))
        try Data(devVars.utf8).write(to: URL(fileURLWithPath: folder.path + "/.dev.vars"))
        let server = try await ServeProcess.start(["--manifest", folder.path + "/functions.json", "--port", "0", "--data", folder.path + "/data"])
        return (folder, server)
    }

    static func trigger(
        _ folder: TemporaryFolder,
        _ server: ServeProcess,
        _ arguments: [String],
        env: [String: String] = [:]
    ) throws
        -> (status: Int32, stdout: String, stderr: String)
    {
        let run = try runEdgeRun(["trigger"] + arguments + ["--manifest", folder.path + "/functions.json", "--url", server.base], environment: env)
        return (run.status, String(decoding: run.stdout, as: UTF8.self), run.stderr)
    }

    @Test func aTriggeredPaymentLandsAndASecondOneIsNotDeduped() async throws {
        let (folder, server) = try await Self.start()
        defer { folder.cleanup() }
        let first = try Self.trigger(folder, server, ["stripe", "payment_intent.succeeded", "--data", #"{"data":{"object":{"amount":5000}}}"#])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.hasPrefix("200 POST /webhooks/stripe (stripe-webhook)"))
        #expect(first.stdout.contains(#"{"received":true}"#))
        let second = try Self.trigger(folder, server, ["stripe", "payment_intent.succeeded"])
        #expect(second.status == 0)
        // Both were enqueued and delivered (a duplicate event id would be acknowledged, not enqueued).
        #expect(
            await eventually {
                let list = try? runEdgeRun(["queues", "list", "--json", "--data", folder.path + "/data"])
                let stats = list.flatMap { try? JSONValue.parse($0.stdout) }?.arrayValue?.first { $0["name"] == "payments" }
                return stats?["delivered"] == 2 && stats?["pending"] == 0
            }
        )
        let twilio = try Self.trigger(folder, server, ["twilio", "status", "delivered"])
        #expect(twilio.status == 0, "\(twilio.stdout)\(twilio.stderr)")
        await server.stop()
    }

    @Test func aWrongSecretOrAMissingHandlerExits1() async throws {
        let (folder, server) = try await Self.start()
        defer { folder.cleanup() }
        let wrong = try Self.trigger(folder, server, ["stripe", "invoice.payment_failed"], env: ["STRIPE_WEBHOOK_SECRET": "whsec_not_the_one"])
        #expect(wrong.status == 1)
        #expect(wrong.stdout.hasPrefix("400 POST /webhooks/stripe"))
        let missing = try Self.trigger(folder, server, ["clerk", "user.created"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("functions.json has no function with handler \"clerk.webhook\""))
        let unknown = try Self.trigger(folder, server, ["stripe", "charge.refunded"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("payment_intent.succeeded"))
        await server.stop()
    }

    @Test func tailPrintsEventsAndExplainsRefusals() async throws {
        let (folder, server) = try await Self.start()
        defer { folder.cleanup() }
        let out = folder.path + "/tail.out"
        FileManager.default.createFile(atPath: out, contents: nil)
        let tail = try ChildProcess(
            executable: try edgeRunExecutable(),
            arguments: ["tail", "--json", "--status", "4xx", "--manifest", folder.path + "/functions.json", "--url", server.base],
            stdoutPath: out,
            stderrPath: nil
        )
        defer {
            tail.send(SIGKILL)
            tail.waitUntilExit()
        }
        let client = TestClient(base: server.base)
        // Until the tail is subscribed its events are not seen: repeat the request until one shows.
        #expect(
            await eventually {
                _ = try? await client.get("/missing")
                return ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains(#""path":"/missing""#)
            }
        )
        _ = try await client.get("/_edge/health")
        _ = try await client.get("/missing-too")
        #expect(await eventually { ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("/missing-too") })
        let lines = (try String(contentsOfFile: out, encoding: .utf8)).split(separator: "\n")
        #expect(lines.allSatisfy { $0.contains(#""status":404"#) })

        let refused = try runEdgeRun(["tail", "--url", server.base, "--token", "wrong"])
        #expect(refused.status == 1)
        #expect(refused.stderr == "edge-run tail: \(server.base) answered 401: invalid bearer token\n")
        await server.stop()
        let unreachable = try runEdgeRun(["tail", "--url", server.base, "--token", "t"])
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.contains("cannot connect to 127.0.0.1:"))
    }
}
