import EdgeStorage
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// The storage backends a conformance test runs against: LMDB always, PostgreSQL when
/// `EDGE_TEST_POSTGRES_URL` names a server.
public enum TestBackend: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case lmdb
    case postgres

    /// The backends to test here: `[.lmdb]`, plus `.postgres` when a server is configured.
    public static var available: [TestBackend] { PostgresTestServer.url == nil ? [.lmdb] : [.lmdb, .postgres] }

    public var testDescription: String { rawValue }
}

/// The PostgreSQL server the tests may use.
public enum PostgresTestServer {
    /// The environment variable naming it.
    public static let urlVariable = "EDGE_TEST_POSTGRES_URL"

    /// Its URL, when set.
    public static var url: PostgresURL? {
        guard let text = ProcessInfo.processInfo.environment[urlVariable], !text.isEmpty else { return nil }
        return try? PostgresURL(parsing: text)
    }

    /// Why the PostgreSQL cases did not run, and how to run them.
    public static let skipReason = Comment(
        rawValue: """
            PostgreSQL cases skipped: \(urlVariable) is not set. Run them with `scripts/with-postgres swift test` \
            (a throwaway server) or \(urlVariable)=postgres://user:pass@host:port/db swift test.
            """
    )

    static let counter = Mutex(0)

    /// A fresh, empty database on the server (each test gets its own).
    static func createDatabase() async throws -> (url: PostgresURL, drop: @Sendable () async throws -> Void) {
        guard let admin = url else { throw CLIRunError(message: "\(urlVariable) is not set") }
        // The whole suite on two cores: a slow health probe is this process answering late.
        PostgresStorageBackend.slowProbesBeforeUnavailable = 20
        // Hundreds of pools on one server: connections as needed, not eight each at once.
        PostgresStorageBackend.keepsWholePoolOpen = false
        let n = counter.withLock {
            $0 += 1
            return $0
        }
        let name = "edge_test_\(getpid())_\(n)_\(UInt32.random(in: 0 ... .max))"
        try await withAdmin(admin) { try await $0.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger).consume() }
        var fresh = admin
        fresh.database = name
        return (
            fresh,
            {
                try await withAdmin(admin) {
                    try await $0.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger).consume()
                }
            }
        )
    }

    /// The integer the one-row, one-column `sql` answers on `url`'s database (test checks).
    public static func scalar(_ url: PostgresURL, _ sql: String) async throws -> Int {
        try await withAdmin(url) { connection in
            var value = 0
            for try await v in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) { value = v }
            return value
        }
    }

    /// Runs `sql` (one statement) on `url`'s database (a test altering the server's state).
    public static func execute(_ url: PostgresURL, _ sql: String) async throws {
        try await withAdmin(url) { try await $0.query(PostgresQuery(unsafeSQL: sql), logger: logger).consume() }
    }

    static let logger = Logger(label: "edge-run.tests.postgres")

    /// Runs `body` on a connection of its own to `url`'s database, closed afterwards.
    public static func withAdmin<T>(_ url: PostgresURL, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let configuration = PostgresConnection.Configuration(
            host: url.host,
            port: url.port,
            username: url.username,
            password: url.password,
            database: url.database,
            tls: .disable
        )
        let connection = try await connect(configuration)
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

extension PostgresTestServer {
    /// A connection to the test server, tried again for up to 60 s while the server answers
    /// "too many clients" (SQLSTATE 53300): the whole suite runs at once, and a test waiting for
    /// a free connection slot is not a failing test.
    static func connect(_ configuration: PostgresConnection.Configuration) async throws -> PostgresConnection {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do {
                return try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "53300" && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}

extension PostgresRowSequence {
    func consume() async throws { for try await _ in self {} }
}

/// A fresh storage of one backend: an empty LMDB data directory, or an empty PostgreSQL
/// database. `with` removes it afterwards, also when the body throws.
public struct TestStorage: Sendable {
    public let backend: TestBackend
    public let location: StorageLocation

    /// Runs `body` with a fresh storage location of `backend`, then deletes it.
    public static func with<T: Sendable>(_ backend: TestBackend, _ body: (TestStorage) async throws -> T) async throws -> T {
        let location: StorageLocation
        let drop: @Sendable () async throws -> Void
        switch backend {
        case .lmdb:
            let folder = TemporaryFolder("storage")
            location = .lmdb(directory: folder.path)
            drop = { folder.cleanup() }
        case .postgres:
            let database = try await PostgresTestServer.createDatabase()
            location = .postgres(database.url)
            drop = database.drop
        }
        do {
            let result = try await body(TestStorage(backend: backend, location: location))
            try await drop()
            return result
        } catch {
            try? await drop()
            throw error
        }
    }
}
