// swift-tools-version:6.1
// Your own edge-run binary: the built-in catalogue plus your handlers.
import PackageDescription

let package = Package(
    name: "my-edge",
    platforms: [.macOS(.v15)],
    dependencies: [
        // In your project: .package(url: "<your edge-run git URL>", from: "0.1.0")
        .package(name: "edge-run", path: "../..")
    ],
    targets: [
        .executableTarget(
            name: "my-edge",
            dependencies: [
                .product(name: "EdgeRuntime", package: "edge-run"),
                .product(name: "Functions", package: "edge-run"),
                .product(name: "KVStore", package: "edge-run"),
            ]
        )
    ]
)
