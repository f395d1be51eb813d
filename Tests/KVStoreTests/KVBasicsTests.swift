import EdgeTestSupport
import Foundation
import LMDBStorage
import Testing

@testable import KVStore

@Suite("KV basics")
struct KVBasicsTests {
    @Test(arguments: TestBackend.available) func putGetTextBytesAndJSON(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            try await f.store.put("greeting", text: "héllo")
            #expect(try await f.store.getText("greeting") == "héllo")
            let bytes = Data([0, 255, 1, 254])
            try await f.store.put("bin", value: bytes)
            #expect(try await f.store.get("bin") == bytes)
            struct User: Codable, Equatable {
                var id: Int
                var name: String
            }
            try await f.store.putJSON("user:1", User(id: 1, name: "Ada"))
            #expect(try await f.store.getJSON("user:1", as: User.self) == User(id: 1, name: "Ada"))
            #expect(try await f.store.get("missing") == nil)
        }
    }

    @Test(arguments: TestBackend.available) func emptyValueIsStoredAndDistinctFromAbsent(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            try await f.store.put("empty", value: Data())
            #expect(try await f.store.get("empty") == Data())
        }
    }

    @Test(arguments: TestBackend.available) func metadataRoundTripsAndAPutWithoutMetadataClearsIt(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            let meta = Data(#"{"plan":"pro","n":3}"#.utf8)
            try await f.store.put("k", value: Data("v".utf8), options: KVPutOptions(metadata: meta))
            let entry = try #require(try await f.store.getWithMetadata("k"))
            #expect(entry.metadata == meta)
            #expect(entry.value.text == "v")
            try await f.store.put("k", value: Data("w".utf8))
            #expect(try await f.store.getWithMetadata("k")?.metadata == nil)
        }
    }

    @Test(arguments: TestBackend.available) func deleteRemovesAndIsANoOpWhenAbsent(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            try await f.store.put("k", text: "v")
            try await f.store.delete("k")
            #expect(try await f.store.get("k") == nil)
            try await f.store.delete("k")
            try await f.store.delete("never-existed")
            #expect(try await f.store.list().keys.isEmpty)
        }
    }

    @Test(arguments: TestBackend.available) func bulkGetReadsOneSnapshotInKeyOrder(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            try await f.store.put("a", text: "1")
            try await f.store.put("c", text: "3")
            let entries = try await f.store.getMany(["c", "b", "a", "c"])
            #expect(entries.map { $0?.value.text } == ["3", nil, "1", "3"])
            #expect(await expectKVError(.tooManyKeys) { _ = try await f.store.getMany([]) })
            #expect(await expectKVError(.tooManyKeys) { _ = try await f.store.getMany((0...100).map { "k\($0)" }) })
            _ = try await f.store.getMany((0..<100).map { "k\($0)" })
        }
    }

    @Test(arguments: TestBackend.available) func namespacesAreSeparate(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            let other = try await f.open("OTHER")
            try await f.store.put("k", text: "mine")
            #expect(try await other.get("k") == nil)
            try await other.put("k", text: "theirs")
            #expect(try await f.store.getText("k") == "mine")
            #expect(try await other.getText("k") == "theirs")
        }
    }

    @Test func writesSurviveReopeningTheEnvironment() async throws {
        let dir = TemporaryFolder("kv")
        defer { dir.cleanup() }
        do {
            let f = try await KVFixture.make(dir: dir)
            try await f.store.put("durable", text: "yes", options: KVPutOptions(expirationTtl: 3600, metadata: Data("[1]".utf8)))
            f.environment.close()
        }
        let g = try await KVFixture.make(dir: dir)
        let entry = try #require(try await g.store.getWithMetadata("durable"))
        #expect(entry.value.text == "yes")
        #expect(entry.metadata == Data("[1]".utf8))
        #expect(entry.expiration != nil)
    }
}
