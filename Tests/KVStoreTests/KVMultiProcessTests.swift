import EdgeTestSupport
import Foundation
import Testing

@testable import KVStore

@Suite("KV across processes")
struct KVMultiProcessTests {
    @Test func theCLISeesAndWritesTheDataOfARunningProcess() async throws {
        // This process keeps the environment open (with a tiny map) the whole time.
        let f = try await KVFixture.make(mapSize: 1 << 20)
        defer { f.dir.cleanup() }
        f.clock.set(Date().timeIntervalSince1970)
        try await f.store.put("from-test", text: "written in process A", options: KVPutOptions(metadata: Data(#"{"by":"A"}"#.utf8)))

        let got = try runEdgeRun(["kv", "get", "--binding", "KV", "--data", f.dir.path, "from-test"])
        #expect(got.status == 0, "\(got.stderr)")
        #expect(got.stdout.text == "written in process A")

        // The other process grows the map past this process's size: reads here must adopt it.
        let big = Data((0..<(6 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let file = f.dir.path + "/big.bin"
        try big.write(to: URL(fileURLWithPath: file))
        let put = try runEdgeRun(["kv", "put", "--binding", "KV", "--data", f.dir.path, "from-cli", "--path", file, "--ttl", "3600"])
        #expect(put.status == 0, "\(put.stderr)")
        #expect(try await f.store.get("from-cli") == big)
        #expect(try await f.store.getWithMetadata("from-cli")?.expiration != nil)

        // And writes here still work after adopting the larger map.
        try await f.store.put("after", text: "ok")
        let list = try runEdgeRun(["kv", "list", "--binding", "KV", "--data", f.dir.path])
        #expect(list.stdout.text == "after\nfrom-cli\nfrom-test\n")
    }

    @Test func writersInSeveralProcessesAtOnceLoseNothing() async throws {
        let f = try await KVFixture.make()
        defer { f.dir.cleanup() }
        let dataPath = f.dir.path
        try await withThrowingTaskGroup(of: Void.self) { group in
            for p in 0..<4 {
                group.addTask {
                    for i in 0..<5 {
                        let r = try runEdgeRun(["kv", "put", "--binding", "KV", "--data", dataPath, "cli\(p)-\(i)", "v"])
                        if r.status != 0 { throw CLIRunError(message: r.stderr) }
                    }
                }
            }
            group.addTask {
                for i in 0..<100 { try await f.store.put("local-\(i)", text: "v") }
            }
            try await group.waitForAll()
        }
        let page = try await f.store.list()
        #expect(page.keys.count == 120)
        #expect(page.keys.filter { $0.name.hasPrefix("cli") }.count == 20)
        let deleted = try runEdgeRun(["kv", "delete", "--binding", "KV", "--data", dataPath, "local-7"])
        #expect(deleted.status == 0)
        #expect(try await f.store.get("local-7") == nil)
    }

    @Test func theCLIReportsBadInputWithANonZeroExit() async throws {
        let dir = TemporaryFolder()
        defer { dir.cleanup() }
        let missing = try runEdgeRun(["kv", "get", "--binding", "KV", "--data", dir.path, "nope"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("not found"))
        let shortTTL = try runEdgeRun(["kv", "put", "--binding", "KV", "--data", dir.path, "k", "v", "--ttl", "5"])
        #expect(shortTTL.status != 0)
        #expect(shortTTL.stderr.contains("--ttl must be an integer between 60 and 3153600000"))
        let version = try runEdgeRun(["--version"])
        #expect(version.stdout.text.hasPrefix("edge-run "))
    }
}
