import EdgeRuntime
import EdgeTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `scripts/crash-stripe`, bounded: the real `edge-run serve` takes signed Stripe events from a
/// few concurrent clients and is killed with SIGKILL mid-way; restarted on the same data
/// directory, it gets every event again (the unanswered ones as Stripe retries them, the
/// acknowledged ones as duplicates). Then every event is applied exactly once, nothing is lost
/// and nothing dead-lettered.
@Suite("Stripe intake survives kill -9")
struct StripeCrashTests {
    static let secret = "whsec_crash_test_only"
    static let token = "crash-admin"
    static let events = 240
    static let clients = 4

    static let manifest = """
        {"secrets": ["STRIPE_WEBHOOK_SECRET", "ADMIN_TOKEN"], "kv_namespaces": [{"binding": "KV"}],
         "queues": [
           {"name": "payments", "consumer": {"function": "stripe-events", "max_batch_size": 100, "max_batch_timeout": 0,
                                             "max_retries": 2, "dead_letter_queue": "payments-dlq", "max_concurrency": 2}},
           {"name": "payments-dlq"}, {"name": "fulfillment"}],
         "functions": [
           {"name": "stripe-webhook", "handler": "stripe.webhook", "routes": ["POST /webhooks/stripe"],
            "config": {"queue": "payments", "tolerance_seconds": 3153600000, "pending_lease_seconds": 2}},
           {"name": "stripe-events", "handler": "stripe.events", "config": {"kv": "KV", "fulfillment_queue": "fulfillment"}},
           {"name": "kv-admin", "handler": "kv.api", "routes": ["GET /admin/kv/*"], "config": {"token_secret": "ADMIN_TOKEN"}},
           {"name": "queues-admin", "handler": "queues.api", "routes": ["GET /admin/queues", "GET /admin/queues/*"],
            "config": {"token_secret": "ADMIN_TOKEN"}}]}
        """

    /// Event `n`: `payment_intent.succeeded` of `pi_crash_<n>` for order `ord_crash_<n>`, signed now.
    static func delivery(_ n: Int) -> (body: String, signature: String) {
        let now = Int64(Date().timeIntervalSince1970)
        let object: JSONValue = [
            "id": .string("pi_crash_\(n)"), "object": "payment_intent", "amount": 2000, "currency": "usd",
            "customer": "cus_crash", "metadata": ["order_id": .string("ord_crash_\(n)")],
        ]
        return signedEvent(id: "evt_crash_\(n)", type: "payment_intent.succeeded", object: object, created: now, secret: secret, t: now)
    }

    static func post(_ client: TestClient, _ n: Int) async -> Int? {
        let d = delivery(n)
        let r = try? await client.request(
            "POST",
            "/webhooks/stripe",
            headers: ["Content-Type": "application/json", "Stripe-Signature": d.signature],
            body: Data(d.body.utf8)
        )
        return r?.status
    }

    @Test(.timeLimit(.minutes(1)))
    func everyAcknowledgedEventIsAppliedOnceAfterAKill() async throws {
        let folder = TemporaryFolder("crash")
        defer { folder.cleanup() }
        try Data(Self.manifest.utf8).write(to: URL(fileURLWithPath: folder.path + "/functions.json"))
        let data = folder.path + "/data"
        var env = ProcessInfo.processInfo.environment
        env["STRIPE_WEBHOOK_SECRET"] = Self.secret
        env["ADMIN_TOKEN"] = Self.token
        let arguments = ["--manifest", folder.path + "/functions.json", "--port", "0", "--data", data, "--log-level", "notice"]

        // 1. Load from a few clients; SIGKILL once about half the events are acknowledged.
        let first = try ServeProcess(arguments, logPath: folder.path + "/first.log", environment: env)
        let client = TestClient(base: "http://127.0.0.1:\(try await first.waitUntilServing())")
        let progress = Progress()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<Self.clients {
                group.addTask {
                    while true {
                        let n = progress.next.withLock { n -> Int? in
                            defer { n += 1 }
                            return n < Self.events ? n : nil
                        }
                        guard let n else { return }
                        let answer = await Self.post(client, n)
                        progress.status.withLock { $0[n] = answer }
                        if answer == nil { return }  // the server is gone
                    }
                }
            }
            group.addTask {
                let answered = await eventually(timeout: 90) {
                    progress.status.withLock { s in s.values.filter { $0 == 200 }.count } >= Self.events / 2
                }
                #expect(answered)
                first.send(SIGKILL)
            }
            try await group.waitForAll()
        }
        try await first.waitForExit()
        let phase1 = progress.status.withLock { $0 }
        let acknowledged = phase1.filter { $0.value == 200 }.map(\.key)
        let unanswered = (0..<Self.events).filter { phase1[$0] != 200 }
        #expect(!acknowledged.isEmpty && !unanswered.isEmpty, "the kill must land mid-way")

        // 2. Restart on the same data; re-send everything. A claim left pending by a cut-off
        // delivery answers 409 until its lease (2 s) is over; Stripe retries, so do we.
        let second = try ServeProcess(arguments, logPath: folder.path + "/second.log", environment: env)
        let restarted = TestClient(base: "http://127.0.0.1:\(try await second.waitUntilServing())")
        var notYet = Array(0..<Self.events)
        let deadline = Date().addingTimeInterval(15)
        while !notYet.isEmpty && Date() < deadline {
            var still: [Int] = []
            for n in notYet where await Self.post(restarted, n) != 200 { still.append(n) }
            notYet = still
            if !notYet.isEmpty { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect(notYet.isEmpty, "events never accepted after the restart: \(notYet)")

        // 3. Wait for the consumer to drain, then check the effects.
        let auth = ["Authorization": "Bearer \(Self.token)"]
        @Sendable func queue(_ name: String) async throws -> JSONValue? {
            try await restarted.get("/admin/queues", headers: auth).json.arrayValue?.first { $0["name"]?.stringValue == name }
        }
        let drained = try await eventually(timeout: 15) {
            guard let p = try await queue("payments") else { return false }
            return p["pending"] == 0 && p["in_flight"] == 0 && p["delayed"] == 0
        }
        #expect(drained)
        var missing: [Int] = []
        for n in 0..<Self.events {
            let order = try await restarted.get("/admin/kv/KV/values/orders:ord_crash_\(n)", headers: auth)
            if order.status != 200 || order.json["status"] != "paid" || order.json["payment_intent_id"] != .string("pi_crash_\(n)") {
                missing.append(n)
            }
        }
        #expect(missing.isEmpty, "orders not paid: \(missing)")
        #expect(try await queue("payments")?["dead_lettered"] == 0)
        #expect(try await queue("payments-dlq")?["pending"] == 0)
        let fulfillment = try await queue("fulfillment")?["pending"]?.intValue ?? 0
        #expect(fulfillment >= Int64(Self.events))

        // Exactly once: an acknowledged event was never enqueued again; only a delivery cut off
        // by the kill after it had enqueued can add one extra message (its claim is taken over).
        let listing = try runEdgeRun(["queues", "list", "--json", "--data", data])
        let payments = try #require(try JSONValue.parse(listing.stdout).arrayValue?.first { $0["name"] == "payments" })
        let delivered = try #require(payments["delivered"]?.intValue)
        #expect(delivered >= Int64(Self.events) && delivered <= Int64(Self.events + unanswered.count), "delivered \(delivered)")
        second.send(SIGTERM)
        _ = try await second.waitForExit()
    }
}

/// What the load clients share: the next event number and each event's answer (nil: none).
final class Progress: Sendable {
    let next = Mutex(0)
    let status = Mutex([Int: Int?]())
}
