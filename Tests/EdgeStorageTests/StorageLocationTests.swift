import EdgeStorage
import EdgeTestSupport
import Foundation
import Testing

@Suite("--storage: parsing and the CLI")
struct StorageLocationTests {
    @Test func lmdbIsTheDefaultAndDataItsShortForm() throws {
        #expect(try StorageLocation.resolve(storage: nil, data: nil, environment: [:]) == .lmdb(directory: ".edge-data"))
        #expect(try StorageLocation.resolve(storage: nil, data: "/srv/d", environment: [:]) == .lmdb(directory: "/srv/d"))
        #expect(try StorageLocation.resolve(storage: "lmdb:/srv/d", data: nil, environment: [:]) == .lmdb(directory: "/srv/d"))
        #expect(try StorageLocation.resolve(storage: nil, data: nil, environment: ["EDGE_STORAGE": "lmdb:/e"]) == .lmdb(directory: "/e"))
        // A flag beats the environment.
        #expect(try StorageLocation.resolve(storage: nil, data: "/flag", environment: ["EDGE_STORAGE": "lmdb:/e"]) == .lmdb(directory: "/flag"))
        #expect(throws: StorageURLError.self) { try StorageLocation.resolve(storage: "lmdb:/a", data: "/b", environment: [:]) }
    }

    @Test func postgresURLs() throws {
        let url = try PostgresURL(parsing: "postgres://edge:s%40cret@db.internal:6543/shop?sslmode=require")
        #expect(url == PostgresURL(host: "db.internal", port: 6543, username: "edge", password: "s@cret", database: "shop", sslMode: .require))
        #expect(url.description == "postgres://edge@db.internal:6543/shop")
        let short = try PostgresURL(parsing: "postgresql://edge@localhost")
        #expect(short.port == 5432 && short.database == "edge" && short.password == nil && short.sslMode == .prefer)
        #expect(try StorageLocation(parsing: "postgresql://edge:pw@h/db").description == "postgres://edge@h:5432/db")
    }

    /// Idle pooled connections are pinged every 30 s unless the URL says otherwise, with
    /// libpq's parameter names.
    @Test func keepAlives() throws {
        #expect(try PostgresURL(parsing: "postgres://u@h/db").keepAliveSeconds == 30)
        #expect(try PostgresURL(parsing: "postgres://u@h/db?keepalives_idle=120").keepAliveSeconds == 120)
        #expect(try PostgresURL(parsing: "postgres://u@h/db?keepalives=1&keepalives_idle=5").keepAliveSeconds == 5)
        #expect(try PostgresURL(parsing: "postgres://u@h/db?keepalives=0&sslmode=disable").keepAliveSeconds == nil)
        #expect(try PostgresURL(parsing: "postgres://u@h/db?keepalives_idle=9&keepalives=0").keepAliveSeconds == nil)
    }

    @Test(arguments: [
        ("mysql://u:topsecret@h/db", "lmdb:<dir> or postgres://"),
        ("postgres://u:topsecret@/db", "names no host"),
        ("postgres://:topsecret@h/db", "names no user"),
        ("postgres://u:topsecret@h:0/db", "out of range"),
        ("postgres://u:topsecret@h/db?sslmode=sometimes", "sslmode"),
        ("postgres://u:topsecret@h/db?password=x", "unknown parameter"),
        ("postgres://u:topsecret@h/db?keepalives=yes", "keepalives must be 0 or 1"),
        ("postgres://u:topsecret@h/db?keepalives_idle=0", "keepalives_idle must be"),
        ("postgres://u:topsecret@h/db?keepalives_idle=ten", "keepalives_idle must be"),
        ("lmdb:", "needs a directory"),
    ])
    func badURLsAreRefusedWithoutThePassword(text: String, message: String) {
        do {
            _ = try StorageLocation(parsing: text)
            Issue.record("\(text) was accepted")
        } catch {
            #expect(error.description.contains(message), "\(error.description)")
            #expect(!error.description.contains("topsecret"))
        }
    }

    @Test func theCLIAcceptsStorageAndRefusesABadOneInOneLine() throws {
        let folder = TemporaryFolder("storage-cli")
        defer { folder.cleanup() }
        let storage = "lmdb:" + folder.path
        #expect(try runEdgeRun(["kv", "put", "--binding", "KV", "--storage", storage, "k", "v"]).status == 0)
        // `--data` is the short form of the same location.
        #expect(String(decoding: try runEdgeRun(["kv", "get", "--binding", "KV", "--data", folder.path, "k"]).stdout, as: UTF8.self) == "v")
        #expect(try runEdgeRun(["queues", "list", "--storage", storage]).status == 0)
        for arguments in [
            ["kv", "get", "--binding", "KV", "--storage", "postgres://u:topsecret@/db", "k"],
            ["queues", "list", "--storage", "redis://u:topsecret@h"],
            ["serve", "--storage", "postgres://u:topsecret@h/db?sslmode=x"],
            ["kv", "get", "--binding", "KV", "--storage", storage, "--data", folder.path, "k"],
        ] {
            let result = try runEdgeRun(arguments)
            #expect(result.status == 1, "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("topsecret"), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        }
    }
}
