import EdgeCore
import EdgeStorage
import EdgeTestSupport
import Foundation
import KVStore
import Logging
import Testing

@Suite("PostgreSQL storage: migrations, cron ticks, start-up errors", .enabled(if: PostgresTestServer.url != nil, PostgresTestServer.skipReason))
struct PostgresStorageTests {
    let logger = Logger(label: "edge-run.tests.storage")

    @Test func nodesStartingTogetherMigrateOnceUnderTheLock() async throws {
        try await TestStorage.with(.postgres) { storage in
            guard case .postgres(let url) = storage.location else { return }
            let backends = try await withThrowingTaskGroup(of: (any StorageBackend).self) { group in
                for _ in 0..<4 { group.addTask { try await storage.location.open(logger: logger) } }
                var all: [any StorageBackend] = []
                for try await backend in group { all.append(backend) }
                return all
            }
            // One row per step, each applied once (steps: every migration this build knows).
            let steps = try await PostgresTestServer.scalar(url, "SELECT max(version) FROM edge_run.schema_version")
            #expect(steps >= 2)
            #expect(try await PostgresTestServer.scalar(url, "SELECT count(*) FROM edge_run.schema_version") == steps)
            for backend in backends { await backend.close() }
            // Opening again applies nothing.
            let again = try await storage.location.open(logger: logger)
            await again.close()
            #expect(try await PostgresTestServer.scalar(url, "SELECT count(*) FROM edge_run.schema_version") == steps)
        }
    }

    @Test func exactlyOneNodeClaimsEachCronTick() async throws {
        try await TestStorage.with(.postgres) { storage in
            let nodes = [try await storage.location.open(logger: logger), try await storage.location.open(logger: logger)]
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for round in 0..<20 {
                    let node = nodes[round % 2]
                    group.addTask { try await node.claimCronTick(job: "digest */5 * * * *", tick: 1_800_000_000) }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 1)
            #expect(try await nodes[1].claimCronTick(job: "digest */5 * * * *", tick: 1_800_000_300))
            #expect(try await nodes[0].claimCronTick(job: "other */5 * * * *", tick: 1_800_000_000))
            for node in nodes { await node.close() }
        }
    }

    @Test func theKVStoreIsSharedBetweenNodesWithStoreWideVersions() async throws {
        try await TestStorage.with(.postgres) { storage in
            let a = try await storage.location.open(logger: logger)
            let b = try await storage.location.open(logger: logger)
            let clock = ManualClock(1_800_000_000)
            let onA = try await a.kvStore(binding: "KV", limits: KVLimits(), clock: clock)
            let onB = try await b.kvStore(binding: "KV", limits: KVLimits(), clock: clock)
            try await onA.put("k", text: "from a")
            #expect(try await onB.getText("k") == "from a")
            let counts = try await withThrowingTaskGroup(of: Int64.self) { group in
                for i in 0..<40 { group.addTask { try await (i % 2 == 0 ? onA : onB).increment("rate", by: 1, expirationTtl: 3600) } }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            #expect(counts.sorted() == Array(1...40))
            await a.close()
            await b.close()
        }
    }

    @Test func aStatementThePostgreSQLServerRefusesIsReportedInItsWordsNamingTheServer() async throws {
        try await TestStorage.with(.postgres) { storage in
            guard case .postgres(let url) = storage.location else { return }
            let backend = try await storage.location.open(logger: logger)
            let store = try await backend.kvStore(binding: "KV", limits: KVLimits(), clock: ManualClock(1_800_000_000))
            try await PostgresTestServer.execute(url, "ALTER TABLE edge_run.kv RENAME TO kv_moved_away")
            do {
                _ = try await store.get("k")
                Issue.record("a read of a missing table succeeded")
            } catch {
                let text = "\(error)"
                #expect(text.contains("\(url.host):\(url.port)"), "\(text)")
                #expect(text.contains("relation \"edge_run.kv\" does not exist"), "\(text)")
                #expect(text.contains("42P01"), "\(text)")
                #expect(!text.contains("Generic description"), "\(text)")
                #expect(!text.contains(url.password ?? "no password"), "\(text)")
            }
            await backend.close()
        }
    }

    @Test func refusedCredentialsAndUnreachableServersAreOneLineWithoutThePassword() async throws {
        var wrong = try #require(PostgresTestServer.url)
        wrong.password = "definitely-not-the-password"
        do {
            _ = try await StorageLocation.postgres(wrong).open(logger: logger)
            Issue.record("a wrong password was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("\(wrong.host):\(wrong.port)"), "\(text)")
            #expect(text.contains("password authentication failed"), "\(text)")
            #expect(!text.contains("definitely-not-the-password"))
            #expect(!text.contains("\n"))
        }
        var closed = wrong
        let refusing = try RefusingPort()
        closed.host = "127.0.0.1"
        closed.port = refusing.port
        let started = ContinuousClock.now
        do {
            _ = try await StorageLocation.postgres(closed).open(logger: logger)
            Issue.record("an unreachable server was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("cannot connect to \(closed.host):\(closed.port)"), "\(text)")
            #expect(!text.contains("definitely-not-the-password"))
        }
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test func serveAndTheCLIExit1WithOneLineNamingTheHostButNotThePassword() async throws {
        let folder = TemporaryFolder("pg-start")
        defer { folder.cleanup() }
        let manifest = folder.path + "/functions.json"
        try #"{"kv_namespaces": [{"binding": "KV"}], "functions": []}"#.write(toFile: manifest, atomically: true, encoding: .utf8)
        var wrong = try #require(PostgresTestServer.url)
        wrong.password = "s3cret-not-this-one"
        let refusing = try RefusingPort()
        var closed = wrong
        closed.port = refusing.port
        for (url, reason) in [(wrong, "password authentication failed"), (closed, "cannot connect to \(closed.host):\(closed.port)")] {
            let text = try #require(Self.urlWithPassword(.postgres(url)))
            let serve = try ServeProcess(
                ["--manifest", manifest, "--port", "0", "--storage", text],
                logPath: folder.path + "/serve-\(url.port).log",
                environment: ["PATH": "/usr/bin:/bin"]
            )
            #expect(try await serve.waitForExit() == 1)
            let lines = serve.log.split(separator: "\n").filter { !$0.isEmpty }
            #expect(lines.count == 1, "\(serve.log)")
            #expect(serve.log.contains("\(url.host):\(url.port)"), "\(serve.log)")
            #expect(serve.log.contains(reason), "\(serve.log)")
            #expect(!serve.log.contains("s3cret-not-this-one"), "\(serve.log)")
        }
    }

    @Test func theCLIMigratesAndUsesPostgreSQL() async throws {
        try await TestStorage.with(.postgres) { storage in
            let url = "\(try #require(Self.urlWithPassword(storage.location)))"
            let migrated = try runEdgeRun(["storage", "migrate", "--storage", url])
            #expect(migrated.status == 0, "\(migrated.stderr)")
            let said = String(decoding: migrated.stdout, as: UTF8.self)
            #expect(said.hasSuffix("schema edge_run is current\n"), "\(said)")
            #expect(!said.contains("edge-test"))
            // Again: nothing to do, still one version row per step.
            #expect(try runEdgeRun(["storage", "migrate", "--storage", url]).status == 0)
            guard case .postgres(let plain) = storage.location else { return }
            let steps = try await PostgresTestServer.scalar(plain, "SELECT max(version) FROM edge_run.schema_version")
            #expect(steps >= 2)
            #expect(try await PostgresTestServer.scalar(plain, "SELECT count(*) FROM edge_run.schema_version") == steps)
            let lmdb = try runEdgeRun(["storage", "migrate", "--storage", "lmdb:/tmp/not-needed"])
            #expect(lmdb.status == 1 && lmdb.stderr.contains("needs --storage postgres://"), "\(lmdb.stderr)")
            #expect(try runEdgeRun(["kv", "put", "--binding", "KV", "--storage", url, "greeting", "hello"]).status == 0)
            // The command's first statement follows the pool's start at once: no warning that
            // the pool was not running yet (it came in about two runs of three, so five runs).
            for _ in 0..<5 {
                let got = try runEdgeRun(["kv", "get", "--binding", "KV", "--storage", url, "greeting"])
                #expect(String(decoding: got.stdout, as: UTF8.self) == "hello")
                #expect(got.stderr.isEmpty, "\(got.stderr)")
            }
            #expect(String(decoding: try runEdgeRun(["kv", "list", "--binding", "KV", "--storage", url]).stdout, as: UTF8.self) == "greeting\n")
        }
    }

    /// The URL text of a PostgreSQL location, password included (the CLI's argument).
    static func urlWithPassword(_ location: StorageLocation) -> String? {
        guard case .postgres(let u) = location else { return nil }
        let password = u.password.map { ":" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0) } ?? ""
        return "postgres://\(u.username)\(password)@\(u.host):\(u.port)/\(u.database)?sslmode=disable"
    }
}
