import EdgeRuntime
import EdgeTestSupport
import Foundation
import KVStore
import LMDBStorage
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real `edge-run serve` killed with SIGKILL: what `queues.api` acknowledged survives, and a
/// delivery cut by a crash still counts.
@Suite("Queues survive kill -9")
struct QueueCrashTests {
    static let token = "crash-admin"
    static let auth = ["Authorization": "Bearer \(token)"]

    /// `jobs` consumed by `webhooks.deliver` posting to `receiver`, with `max_retries` and a DLQ.
    static func manifest(receiver: String, maxRetries: Int) -> String {
        """
        {"secrets": ["ADMIN_TOKEN", "HOOK_SECRET"],
         "queues": [
           {"name": "jobs", "consumer": {"function": "deliver", "max_batch_size": 10, "max_batch_timeout": 0,
                                         "max_retries": \(maxRetries), "dead_letter_queue": "jobs-dlq"}},
           {"name": "jobs-dlq"}],
         "functions": [
           {"name": "deliver", "handler": "webhooks.deliver",
            "config": {"url": "\(receiver)", "signing_secret": "HOOK_SECRET", "timeout_seconds": 300}},
           {"name": "admin", "handler": "queues.api", "routes": ["GET /q", "GET /q/*", "POST /q/*"],
            "config": {"token_secret": "ADMIN_TOKEN"}}]}
        """
    }

    /// A folder with the manifest, and how to start `serve` on it.
    struct Setup {
        let folder = TemporaryFolder("queue-crash")
        let environment: [String: String]
        let arguments: [String]
        var data: String { folder.path + "/data" }

        init(manifest: String) throws {
            try Data(manifest.utf8).write(to: URL(fileURLWithPath: folder.path + "/functions.json"))
            var env = ProcessInfo.processInfo.environment
            env["ADMIN_TOKEN"] = QueueCrashTests.token
            env["HOOK_SECRET"] = "crash-hook-secret"
            environment = env
            arguments = ["--manifest", folder.path + "/functions.json", "--port", "0", "--data", folder.path + "/data", "--log-level", "notice"]
        }

        func start(_ name: String) async throws -> (ServeProcess, TestClient) {
            let process = try ServeProcess(arguments, logPath: folder.path + "/\(name).log", environment: environment)
            return (process, TestClient(base: "http://127.0.0.1:\(try await process.waitUntilServing())"))
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func everyAcknowledgedSendIsDeliveredAfterAKill() async throws {
        let received = Shared<Set<String>>([])
        let receiver = try await FakeProvider.start { request in
            if let id = request.headers["x-webhook-id"] { _ = received.value.withLock { $0.insert(id) } }
            return FakeProvider.Reply(status: 204)
        }
        let setup = try Setup(manifest: Self.manifest(receiver: receiver.url("/hooks"), maxRetries: 3))
        defer { setup.folder.cleanup() }

        // Sends from a few clients, single and batched; SIGKILL once some are acknowledged.
        let (first, client) = try await setup.start("first")
        let acknowledged = Shared<[String]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for c in 0..<4 {
                group.addTask {
                    for n in 0..<10_000 {
                        let r: FetchResponse
                        do {
                            r =
                                n % 2 == 0
                                ? try await client.request(
                                    "POST",
                                    "/q/jobs/messages",
                                    headers: Self.auth,
                                    json: ["body": ["c": .integer(Int64(c)), "n": .integer(Int64(n))]]
                                )
                                : try await client.request(
                                    "POST",
                                    "/q/jobs/messages/batch",
                                    headers: Self.auth,
                                    json: ["messages": .array((0..<5).map { i in ["body": .string("c\(c)-n\(n)-\(i)"), "content_type": "text"] })]
                                )
                        } catch { return }  // the server is gone
                        guard r.status == 202 else { return }
                        let ids = r.json["ids"]?.arrayValue?.compactMap(\.stringValue) ?? [r.json["id"]?.stringValue].compactMap { $0 }
                        acknowledged.value.withLock { $0 += ids }
                    }
                }
            }
            group.addTask {
                #expect(await eventually(timeout: 20) { acknowledged.value.withLock { $0.count } >= 300 })
                first.send(SIGKILL)
            }
            try await group.waitForAll()
        }
        try await first.waitForExit()
        let sent = Set(acknowledged.value.withLock { $0 })
        #expect(sent.count >= 300)

        // Restarted on the same data directory, every acknowledged message is delivered.
        let (second, _) = try await setup.start("second")
        let all = await eventually(timeout: 20) { received.value.withLock { sent.isSubset(of: $0) } }
        let missing = sent.subtracting(received.value.withLock { $0 })
        #expect(all, "\(missing.count) acknowledged messages never delivered, e.g. \(missing.prefix(3))")
        second.send(SIGTERM)
        _ = try await second.waitForExit()
        try await receiver.stop()
    }

    @Test(.timeLimit(.minutes(1)))
    func aDeliveryInterruptedTwiceWithMaxRetriesOneEndsInTheDLQ() async throws {
        // The receiver never answers: each delivery is in progress when the server is killed.
        let attempts = Shared<[String]>([])
        let released = Shared(false)
        let receiver = try await FakeProvider.start { request in
            attempts.value.withLock { $0.append(request.headers["x-webhook-attempt"] ?? "?") }
            while !released.value.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(20)) }
            return FakeProvider.Reply(status: 204)
        }
        let setup = try Setup(manifest: Self.manifest(receiver: receiver.url("/hooks"), maxRetries: 1))
        defer { setup.folder.cleanup() }

        let (first, client) = try await setup.start("first")
        let sent = try await client.request("POST", "/q/jobs/messages", headers: Self.auth, json: ["body": ["order": 1]])
        #expect(sent.status == 202)
        let id = try #require(sent.json["id"]?.stringValue)
        // This process keeps the environment open, so the killed server's reader slots stay behind.
        let observer = try LMDBEnvironment(path: setup.data + "/lmdb")
        defer { observer.close() }
        #expect(await eventually(timeout: 10) { attempts.value.withLock { $0 } == ["1"] })
        first.send(SIGKILL)
        try await first.waitForExit()
        #expect(try observer.clearStaleReaders() >= 1, "the killed server's reader slots are cleared")

        let (second, _) = try await setup.start("second")
        #expect(await eventually(timeout: 10) { attempts.value.withLock { $0 } == ["1", "2"] })
        second.send(SIGKILL)
        try await second.waitForExit()

        // The third start takes the lease back: two deliveries were counted, so it is dead-lettered.
        let (third, restarted) = try await setup.start("third")
        let dead = try await restarted.get("/q/jobs-dlq/messages?limit=10", headers: Self.auth).json["messages"]?.arrayValue ?? []
        #expect(dead.count == 1)
        #expect(dead.first?["id"]?.stringValue == id)
        #expect(dead.first?["attempts"] == 2)
        #expect(dead.first?["last_error"] == "delivery interrupted: the process stopped")
        let jobs = try await restarted.get("/q", headers: Self.auth).json.arrayValue?.first { $0["name"] == "jobs" }
        #expect(jobs?["pending"] == 0 && jobs?["in_flight"] == 0 && jobs?["dead_lettered"] == 1)
        // Never a third delivery.
        try await Task.sleep(for: .milliseconds(300))
        #expect(attempts.value.withLock { $0 } == ["1", "2"])

        third.send(SIGTERM)
        _ = try await third.waitForExit()
        released.value.withLock { $0 = true }
        try await receiver.stop()
    }
}

/// A value shared between a test and the tasks and servers it starts.
final class Shared<T: Sendable>: Sendable {
    let value: Mutex<T>
    init(_ initial: T) { value = Mutex(initial) }
}
