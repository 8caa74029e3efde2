// swift-tools-version:6.1
import PackageDescription

import struct Foundation.URL

/// The product is the package one directory up. SwiftPM names a path dependency after its directory (`pacsgate`,
/// a worktree's name, CI's clone folder), so the name is derived rather than spelled.
let product = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .lastPathComponent.lowercased()

// pacsgate's benchmark suite: its own package so the product's build stays lean.
//
//   Benchmarks/PacsgateMicro   package-benchmark microbenchmarks of the parsers, the stick table and the balancer
//                              (`swift package benchmark`): time and allocations per operation.
//   pacsgate-bench             the load tool: starts direct / HAProxy / nginx / pacsgate targets on loopback and runs
//                              the scenarios against each (`bench/run.sh`).
//   pacsgate-load              its C epoll client and request/response backend.
//   pacsgate-audit-bench       typical audit-search queries over a generated million-record log.
//   PacsgateBenchKit           the load tool's pure parts (statistics, target configurations, markdown report).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "pacsgate-bench",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "PacsgateMicro",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "PacsgateCore", package: product),
                .product(name: "PacsgateDICOM", package: product),
                .product(name: "PacsgateHL7", package: product),
                .product(name: "PacsgateTLS", package: product),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/PacsgateMicro",
            swiftSettings: strictSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The load generator and request/response backend, in C on epoll: a client that can saturate HAProxy on two
        // cores (the Swift client could not).
        .executableTarget(
            name: "pacsgate-load",
            path: "Sources/pacsgate-load",
            cSettings: [.unsafeFlags(["-O2"])]
        ),
        .target(
            name: "PacsgateBenchKit",
            dependencies: [],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "pacsgate-bench",
            dependencies: [
                "PacsgateBenchKit",
                .product(name: "PacsgateDemo", package: product),
                .product(name: "PacsgateDICOM", package: product),
                .product(name: "PacsgateHL7", package: product),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // Typical audit-search queries over a generated log (1,000,000 records in 10 rotated files by default):
        // the index's first build and each query's wall time (`swift run -c release pacsgate-audit-bench`).
        .executableTarget(
            name: "pacsgate-audit-bench",
            dependencies: [
                .product(name: "PacsgateAuditIndex", package: product),
                .product(name: "PacsgateCore", package: product),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PacsgateBenchKitTests",
            dependencies: ["PacsgateBenchKit"],
            swiftSettings: strictSettings
        ),
    ]
)
