import EdgeTestSupport
import Foundation
import LMDBStorage
@testable import KVStore

/// An environment and one namespace on a manual clock.
struct KVFixture {
    let dir: TemporaryFolder
    let environment: LMDBEnvironment
    let store: LMDBKVStore
    let clock: ManualWallClock

    static func make(
        binding: String = "KV", limits: KVLimits = KVLimits(), mapSize: Int = 64 << 20,
        dir: TemporaryFolder = TemporaryFolder("kv")
    ) async throws -> KVFixture {
        var options = LMDBEnvironment.Options()
        options.initialMapSize = mapSize
        let environment = try LMDBEnvironment(path: dir.path + "/lmdb", options: options)
        let clock = ManualWallClock(1_800_000_000)
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
