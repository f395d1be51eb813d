import EdgeTestSupport
import Foundation
import LMDBStorage
import Testing

@testable import KVStore

@Suite("KV limits and errors")
struct KVLimitsTests {
    @Test(arguments: TestBackend.available) func keysMustBeOneTo512BytesAndNotDotOrDotDot(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            #expect(await expectKVError(.invalidKey) { try await f.store.put("", text: "v") })
            #expect(await expectKVError(.invalidKey) { try await f.store.put(".", text: "v") })
            #expect(await expectKVError(.invalidKey) { try await f.store.put("..", text: "v") })
            #expect(await expectKVError(.invalidKey) { _ = try await f.store.get("") })
            #expect(await expectKVError(.keyTooLong) { try await f.store.put(String(repeating: "x", count: 513), text: "v") })
            #expect(await expectKVError(.keyTooLong) { _ = try await f.store.get(String(repeating: "é", count: 257)) })
            try await f.store.put("...", text: "dots are fine otherwise")
            #expect(try await f.store.getText("...") == "dots are fine otherwise")
        }
    }

    /// liblmdb caps keys at 511 bytes; 512-byte keys live in a bucketed side table and must
    /// behave like any other key, including ordering against their 511-byte neighbours.
    @Test(arguments: TestBackend.available) func fullLength512ByteKeysWorkEverywhere(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            let head = String(repeating: "k", count: 511)
            let keys = [head, head + "a", head + "b", head + "c", String(repeating: "l", count: 512)]
            for (i, key) in keys.enumerated().reversed() {
                try await f.store.put(key, text: "v\(i)", options: KVPutOptions(metadata: Data("\(i)".utf8)))
            }
            for (i, key) in keys.enumerated() {
                #expect(try await f.store.getText(key) == "v\(i)")
            }
            let listed = try await f.store.list()
            #expect(listed.keys.map(\.name) == keys)
            #expect(listed.keys.map { $0.metadata?.text } == ["0", "1", "2", "3", "4"])
            let page = try await f.store.list(limit: 2)
            let rest = try await f.store.list(cursor: page.cursor)
            #expect((page.keys + rest.keys).map(\.name) == keys)

            try await f.store.delete(head + "b")
            #expect(try await f.store.get(head + "b") == nil)
            #expect(try await f.store.getText(head + "a") == "v1")
            #expect(try await f.store.getText(head + "c") == "v3")
            #expect(try await f.store.increment(head + "z", by: 2, expirationTtl: nil) == 2)
            #expect(try await f.store.list(prefix: head).keys.count == 4)
        }
    }

    @Test func valuesUpTo25MiBAndTheMapGrowsWhenFull() async throws {
        // A 1 MiB map must grow (doubling) to hold a 25 MiB value.
        let f = try await KVFixture.make(mapSize: 1 << 20)
        defer { f.dir.cleanup() }
        let big = Data(repeating: 0xAB, count: 25 << 20)
        try await f.store.put("big", value: big)
        #expect(try await f.store.get("big") == big)
        #expect(f.environment.currentMapSize > 25 << 20)
        #expect(await expectKVError(.valueTooLarge) { try await f.store.put("bigger", value: Data(count: (25 << 20) + 1)) })
    }

    @Test(arguments: TestBackend.available) func metadataMustBeJSONOfAtMost1024Bytes(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            let ok = Data(("\"" + String(repeating: "m", count: 1022) + "\"").utf8)
            try await f.store.put("k", value: Data(), options: KVPutOptions(metadata: ok))
            let tooBig = Data(("\"" + String(repeating: "m", count: 1023) + "\"").utf8)
            #expect(await expectKVError(.metadataTooLarge) { try await f.store.put("k", value: Data(), options: KVPutOptions(metadata: tooBig)) })
            #expect(
                await expectKVError(.invalidMetadata) {
                    try await f.store.put("k", value: Data(), options: KVPutOptions(metadata: Data("{nope".utf8)))
                }
            )
            // Metadata is read as the runtime reads every outside JSON.
            for metadata in OutsideJSON.refused where metadata.count <= 1024 {
                #expect(
                    await expectKVError(.invalidMetadata) { try await f.store.put("k", value: Data(), options: KVPutOptions(metadata: metadata)) }
                )
            }
            for metadata in OutsideJSON.accepted { try await f.store.put("k", value: Data(), options: KVPutOptions(metadata: metadata)) }
        }
    }

    @Test(arguments: TestBackend.available) func ttlMustReachTheConfiguredMinimum(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            let now = f.clock.nowSeconds()
            #expect(await expectKVError(.invalidExpiration) { try await f.store.put("k", text: "v", options: KVPutOptions(expirationTtl: 59)) })
            #expect(await expectKVError(.invalidExpiration) { try await f.store.put("k", text: "v", options: KVPutOptions(expiration: now + 59)) })
            #expect(await expectKVError(.invalidExpiration) { try await f.store.put("k", text: "v", options: KVPutOptions(expiration: now - 10)) })
            #expect(
                await expectKVError(.invalidExpiration) {
                    try await f.store.put("k", text: "v", options: KVPutOptions(expiration: now + 100, expirationTtl: 100))
                }
            )
            #expect(await expectKVError(.invalidExpiration) { _ = try await f.store.increment("n", by: 1, expirationTtl: 1) })
            try await f.store.put("k", text: "v", options: KVPutOptions(expirationTtl: 60))
            try await f.store.put("k2", text: "v", options: KVPutOptions(expiration: now + 60))

            let lenient = try await f.open("L", limits: KVLimits(minTTLSeconds: 1))
            try await lenient.put("k", text: "v", options: KVPutOptions(expirationTtl: 1))
        }
    }

    @Test(arguments: TestBackend.available) func listLimitAndCursorAreValidated(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            #expect(await expectKVError(.invalidListLimit) { _ = try await f.store.list(limit: 0) })
            #expect(await expectKVError(.invalidListLimit) { _ = try await f.store.list(limit: 1001) })
            #expect(await expectKVError(.invalidCursor) { _ = try await f.store.list(cursor: "!!not base64!!") })
        }
    }
}
