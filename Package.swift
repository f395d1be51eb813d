// swift-tools-version:6.1
import PackageDescription

/// Settings every target shares: Swift 6 language mode is the package default.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "edge-run",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "edge-run", targets: ["edge-run"]),
        .library(name: "KVStore", targets: ["KVStore"]),
        .library(name: "Queues", targets: ["Queues"]),
        .library(name: "EdgeRuntime", targets: ["EdgeRuntime"]),
        .library(name: "Functions", targets: ["Functions"]),
        .library(name: "WasmFunctions", targets: ["WasmFunctions"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swiftwasm/WasmKit.git", from: "0.4.2"),
    ],
    targets: [
        // System-library shims: a modulemap plus static inline wrappers for macro/variadic APIs.
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // C helpers for JWT verification (OSSL_PARAM building must happen in C; see STYLE.md).
        .target(name: "CEdgeCrypto", dependencies: ["COpenSSL"]),

        // What KV, queues and the runtime all need: base64, the wall and sleeping clocks (and the
        // one manual clock of tests), the JSON value with its strict reader and writer.
        .target(name: "EdgeCore", swiftSettings: swiftSettings),

        // The raw LMDB layer (environment, transactions, cursors, the group-committing writer):
        // only the LMDB backends of KVStore and Queues import it.
        .target(name: "LMDBStorage", dependencies: ["CLMDB"], swiftSettings: swiftSettings),

        .target(
            name: "KVStore",
            dependencies: [
                "EdgeCore", "LMDBStorage", "CLMDB",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Queues",
            dependencies: [
                "EdgeCore", "KVStore", "LMDBStorage", "CLMDB",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The storage a node runs on, chosen by `--storage`: each backend in its own folder.
        .target(
            name: "EdgeStorage",
            dependencies: [
                "EdgeCore", "KVStore", "Queues", "LMDBStorage",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "EdgeRuntime",
            dependencies: [
                "EdgeCore", "KVStore", "Queues", "EdgeStorage", "CCurl", "COpenSSL", "CEdgeCrypto",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            // The console's HTML/CSS/JS: embedded as Swift literals by scripts/generate-console
            // (the release installs one binary and no resource bundle).
            exclude: ["Console/Assets"],
            swiftSettings: swiftSettings
        ),
        // The `wasm` handler: user functions in WebAssembly on WasmKit, with our own
        // bounds-checked WASI preview 1 subset and the `edge_run` host calls.
        .target(
            name: "WasmFunctions",
            dependencies: [
                "EdgeRuntime", "KVStore", "Queues",
                .product(name: "WasmKit", package: "WasmKit"),
                .product(name: "WasmParser", package: "WasmKit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Functions",
            dependencies: [
                "EdgeRuntime", "KVStore", "Queues", "WasmFunctions",
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "edge-run",
            dependencies: [
                "KVStore", "Queues", "EdgeStorage", "EdgeRuntime", "Functions",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // Benchmarks: plain executables, never run by the test suite (see scripts/bench).
        .executableTarget(
            name: "kv-bench",
            dependencies: ["EdgeCore", "KVStore", "LMDBStorage", "CLMDB"],
            path: "Benchmarks/kv-bench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "hello-hummingbird",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/hello-hummingbird",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "runtime-bench-server",
            dependencies: ["EdgeRuntime", "Functions", "KVStore", "Queues", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/runtime-bench-server",
            exclude: ["functions.json"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "jwt-bench",
            dependencies: ["EdgeCore", "EdgeRuntime", "KVStore"],
            path: "Benchmarks/jwt-bench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "messaging-bench",
            dependencies: [
                "EdgeRuntime", "Functions", "KVStore", "Queues",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Benchmarks/messaging-bench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "wasm-bench",
            dependencies: ["EdgeRuntime", "Functions", "WasmFunctions", "KVStore", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/wasm-bench",
            exclude: ["functions.json"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "queue-bench",
            dependencies: ["Queues", "KVStore", "LMDBStorage"],
            path: "Benchmarks/queue-bench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "pg-queue-bench",
            dependencies: [
                "EdgeStorage", "Queues", "KVStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Benchmarks/pg-queue-bench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "pg-kv-bench",
            dependencies: [
                "EdgeCore", "EdgeStorage", "KVStore",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/pg-kv-bench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "queue-scale-bench",
            dependencies: ["EdgeCore", "EdgeRuntime", "Queues", "KVStore", "LMDBStorage"],
            path: "Benchmarks/queue-scale-bench",
            swiftSettings: swiftSettings
        ),

        .testTarget(
            name: "KVStoreTests",
            dependencies: [
                "EdgeCore", "KVStore", "LMDBStorage", "EdgeStorage", "CLMDB", "EdgeTestSupport", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EdgeStorageTests",
            dependencies: [
                "EdgeCore", "EdgeStorage", "KVStore", "EdgeTestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "QueuesTests",
            dependencies: [
                "EdgeCore", "Queues", "KVStore", "LMDBStorage", "EdgeStorage", "EdgeTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EdgeRuntimeTests",
            dependencies: [
                "EdgeCore", "EdgeRuntime", "EdgeTestSupport", "KVStore", "Queues", "LMDBStorage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        // Test helpers every test target shares: a running edge-run server on a free loopback
        // port, a programmable fake provider, an HTTP client, a raw socket, temporary folders,
        // polling and the storage backends.
        .target(
            name: "EdgeTestSupport",
            dependencies: [
                "EdgeCore", "EdgeRuntime", "Functions", "KVStore", "Queues", "EdgeStorage",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/EdgeTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FunctionsTests",
            dependencies: ["EdgeCore", "Functions", "EdgeRuntime", "EdgeTestSupport", "EdgeStorage", "KVStore", "Queues", "LMDBStorage"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WasmFunctionsTests",
            dependencies: [
                "WasmFunctions", "Functions", "EdgeRuntime", "EdgeTestSupport", "KVStore", "Queues",
                .product(name: "WasmKit", package: "WasmKit"),
                .product(name: "WAT", package: "WasmKit"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

// Fuzz targets (libFuzzer): only with EDGE_FUZZ=1, built by scripts/fuzz with
// `-Xswiftc -sanitize=fuzzer,address` in its own scratch path, so they never enter the normal
// build (as Hummingbird gates its benchmarks).
if Context.environment["EDGE_FUZZ"] == "1" {
    package.products.append(.executable(name: "edge-fuzz", targets: ["edge-fuzz"]))
    package.targets.append(
        .executableTarget(
            name: "edge-fuzz",
            dependencies: ["EdgeCore", "EdgeRuntime", "Functions", "KVStore", "Queues", "LMDBStorage"],
            path: "Fuzz/Sources/edge-fuzz",
            swiftSettings: swiftSettings
        )
    )
}
