import EdgeStorage
import Foundation
import Testing

/// The storage backends a conformance test runs against (`@Test(arguments: TestBackend.available)`).
public enum TestBackend: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case lmdb

    /// The backends to test here.
    public static var available: [TestBackend] { [.lmdb] }

    public var testDescription: String { rawValue }
}

/// A fresh storage of one backend (an empty LMDB data directory); `with` removes it
/// afterwards, also when the body throws.
public struct TestStorage: Sendable {
    public let backend: TestBackend
    public let location: StorageLocation

    /// Runs `body` with a fresh storage location of `backend`, then deletes it.
    public static func with<T: Sendable>(_ backend: TestBackend, _ body: (TestStorage) async throws -> T) async throws -> T {
        let folder = TemporaryFolder("storage")
        defer { folder.cleanup() }
        return try await body(TestStorage(backend: backend, location: .lmdb(directory: folder.path)))
    }
}
