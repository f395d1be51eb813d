import EdgeCore
import EdgeStorage
import EdgeTestSupport
import Foundation
import LMDBStorage
import Logging

@testable import KVStore

/// An environment and one namespace on a manual clock.
struct KVFixture {
    let dir: TemporaryFolder
    let environment: LMDBEnvironment
    let store: LMDBKVStore
    let clock: ManualClock

    static func make(
        binding: String = "KV",
        limits: KVLimits = KVLimits(),
        mapSize: Int = 64 << 20,
        dir: TemporaryFolder = TemporaryFolder("kv")
    ) async throws -> KVFixture {
        var options = LMDBEnvironment.Options()
        options.initialMapSize = mapSize
        let environment = try LMDBEnvironment(path: dir.path + "/lmdb", options: options)
        let clock = ManualClock(1_800_000_000)
        let store = try await LMDBKVStore.open(environment: environment, binding: binding, limits: limits, clock: clock)
        return KVFixture(dir: dir, environment: environment, store: store, clock: clock)
    }
}

extension Data {
    var text: String { String(decoding: self, as: UTF8.self) }
}

/// Runs `body`, expecting a ``KVError`` with `code`.
func expectKVError(_ code: KVError.Code, _ body: () async throws -> Void) async -> Bool {
    do {
        try await body()
        return false
    } catch let error as KVError {
        return error.code == code && !error.message.isEmpty
    } catch {
        return false
    }
}

/// One namespace of a fresh storage of `backend` on a manual clock (the conformance tests run
/// against every ``TestBackend/available`` backend).
struct KVCase: Sendable {
    let store: any KVStore
    let clock: ManualClock
    let storage: any StorageBackend

    /// Another namespace of the same storage.
    func open(_ binding: String, limits: KVLimits = KVLimits()) async throws -> any KVStore {
        try await storage.kvStore(binding: binding, limits: limits, clock: clock)
    }
}

/// Runs `body` on the namespace `binding` of a fresh storage of `backend`, then deletes it.
func withKV(
    _ backend: TestBackend,
    binding: String = "KV",
    limits: KVLimits = KVLimits(),
    _ body: (KVCase) async throws -> Void
) async throws {
    try await TestStorage.with(backend) { storage in
        let opened = try await storage.location.open(logger: Logger(label: "edge-run.tests.kv"))
        let clock = ManualClock(1_800_000_000)
        do {
            let store = try await opened.kvStore(binding: binding, limits: limits, clock: clock)
            try await body(KVCase(store: store, clock: clock, storage: opened))
            await opened.close()
        } catch {
            await opened.close()
            throw error
        }
    }
}
