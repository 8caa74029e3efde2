// swift-tools-version:6.2
import PackageDescription

// pacsgate — a healthcare protocol-aware TCP gateway.
//
// Module map (dependencies point inward to the core):
//
//   pacsgate (thin executable) → PacsgateApp (CLI, wiring, the demo command)
//   PacsgateDemo → PacsgateDICOM, PacsgateHL7, PacsgateTLS (the demo's simulated Mach7 nodes, also used by the tests
//                  and the benchmark; kept out of the protocol libraries)
//   PacsgateApp → PacsgateAdmin, PacsgateAuditIndex, PacsgateHA, PacsgateATNA, PacsgateConfig, PacsgateDICOM, PacsgateHL7, PacsgateTLS
//               → PacsgateCore
//   PacsgateAdmin → PacsgateTLS (the project's TLS settings for its HTTPS), PacsgateConfig, PacsgateAuditIndex,
//                   PacsgateAuditRecords
//   PacsgateATNA → PacsgateAuditRecords (maps the typed records to DICOM audit messages)
//   PacsgateAuditIndex → PacsgateCore (the audit log's SQLite search index, for the admin and `pacsgate audit`)
//   PacsgateAuditRecords → PacsgateCore (the typed audit records the protocol modules and the admin write, the ATNA
//                 export and the overview read)
//   PacsgateCore: forwarding, balancing, persistence, health checks, audit log, inspector seam, the NIO engine.
//                 Knows nothing of DICOM, HL7 or TLS.
//   PacsgateDataPlane → PacsgateCore: the native engine (epoll reactors, Linux). The only module that handles raw
//                 descriptors and unsafe memory; CPacsgateDataPlane exposes the Linux headers it calls.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

// The native engine's reactor and connection objects are classes whose stored properties the hot path reads and
// writes on every event, and Swift checks each such access for exclusivity at run time (`swift_beginAccess`): about
// a third of the instructions the reactor thread spends on a proxied tcp connection (callgrind, docs/benchmarks.md).
// The checks stay on in debug builds, which every test runs (both engines), so an overlapping access still traps
// there; only release builds of this one module drop them.
let dataPlaneSettings = strictSettings + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "pacsgate",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "pacsgate", targets: ["pacsgate"]),
        .library(name: "PacsgateCore", targets: ["PacsgateCore"]),
        .library(name: "PacsgateDICOM", targets: ["PacsgateDICOM"]),
        .library(name: "PacsgateHL7", targets: ["PacsgateHL7"]),
        .library(name: "PacsgateTLS", targets: ["PacsgateTLS"]),
        .library(name: "PacsgateDataPlane", targets: ["PacsgateDataPlane"]),
        .library(name: "PacsgateDemo", targets: ["PacsgateDemo"]),
        // For bench/'s audit-search benchmark.
        .library(name: "PacsgateAuditIndex", targets: ["PacsgateAuditIndex"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The audit search index: SQLite bundled with the package (nothing to install; see PacsgateAuditIndex).
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
    ],
    targets: [
        // This build's version and commit, the one place every command and page reads them from; the commit is
        // recorded at build time by BuildCommitPlugin (git when present, `unknown` otherwise).
        .target(
            name: "PacsgateVersion",
            swiftSettings: strictSettings,
            plugins: ["BuildCommitPlugin"]
        ),
        .plugin(name: "BuildCommitPlugin", capability: .buildTool()),
        .target(
            name: "PacsgateCore",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The audit records the ATNA export and the overview read, each defined once as a typed value that writes its
        // own line and is that record's payload (dicom.association, hl7.*, tls.connection, admin.*).
        .target(
            name: "PacsgateAuditRecords",
            dependencies: ["PacsgateCore"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "CPacsgateDataPlane"
        ),
        .target(
            name: "PacsgateDataPlane",
            dependencies: [
                "PacsgateCore",
                "CPacsgateDataPlane",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: dataPlaneSettings
        ),
        .target(
            name: "PacsgateConfig",
            dependencies: [
                "PacsgateCore",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "PacsgateDICOM",
            dependencies: [
                "PacsgateAuditRecords",
                "PacsgateCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "PacsgateHL7",
            dependencies: [
                "PacsgateAuditRecords",
                "PacsgateCore",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "PacsgateTLS",
            dependencies: [
                "PacsgateAuditRecords",
                "PacsgateCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "PacsgateAuditIndex",
            dependencies: [
                "PacsgateCore",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "PacsgateAdmin",
            dependencies: [
                "PacsgateAuditRecords",
                "PacsgateCore",
                "PacsgateVersion",
                "PacsgateConfig",
                "PacsgateAuditIndex",
                "PacsgateTLS",
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "PacsgateHA",
            dependencies: [
                "PacsgateCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "PacsgateATNA",
            dependencies: [
                "PacsgateAuditRecords",
                "PacsgateCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        // The demo's simulated Mach7 nodes (`pacsgate demo`, the tests, the benchmark's backends), kept out of the
        // protocol libraries the gateway runs.
        .target(
            name: "PacsgateDemo",
            dependencies: [
                "PacsgateCore",
                "PacsgateDICOM",
                "PacsgateHL7",
                "PacsgateTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "PacsgateApp",
            dependencies: [
                "PacsgateCore",
                "PacsgateDataPlane",
                "PacsgateAdmin",
                "PacsgateAuditIndex",
                "PacsgateHA",
                "PacsgateATNA",
                "PacsgateConfig",
                "PacsgateDICOM",
                "PacsgateHL7",
                "PacsgateTLS",
                "PacsgateVersion",
                "PacsgateDemo",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "pacsgate",
            dependencies: ["PacsgateApp"],
            swiftSettings: strictSettings
        ),
        // Helpers shared by the test targets (running external tools, real peers and loopback servers, test scopes,
        // log capture); a plain library only the tests depend on. It imports Testing (shipped with the toolchain) to
        // record issues.
        .target(
            name: "PacsgateTestSupport",
            dependencies: [
                "PacsgateCore",
                "PacsgateDataPlane",
                "PacsgateConfig",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/PacsgateTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PacsgateCoreTests",
            dependencies: [
                "PacsgateCore",
                "PacsgateTestSupport",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "PacsgateAuditRecordsTests",
            dependencies: ["PacsgateAuditRecords", "PacsgateCore"]
        ),
        .testTarget(
            name: "PacsgateDataPlaneTests",
            dependencies: [
                "PacsgateDataPlane",
                "PacsgateCore",
                "PacsgateTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "PacsgateConfigTests",
            dependencies: [
                "PacsgateConfig", "PacsgateCore", "PacsgateApp", "PacsgateAdmin", "PacsgateTestSupport",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // Files the tests read by path (check-config's refusals), not resources of the test bundle.
            exclude: ["BrokenConfigs"]
        ),
        .testTarget(
            name: "PacsgateDICOMTests",
            dependencies: [
                "PacsgateDemo",
                "PacsgateTestSupport",
                "PacsgateDICOM",
                "PacsgateCore",
                "PacsgateConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "PacsgateHL7Tests",
            dependencies: [
                "PacsgateAuditRecords",
                "PacsgateDemo",
                "PacsgateTestSupport",
                "PacsgateHL7",
                "PacsgateCore",
                "PacsgateConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "PacsgateTLSTests",
            dependencies: [
                "PacsgateDemo",
                "PacsgateTestSupport",
                "PacsgateTLS",
                "PacsgateCore",
                "PacsgateConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "PacsgateAdminTests",
            dependencies: [
                "PacsgateAuditRecords",
                "PacsgateTestSupport",
                "PacsgateAdmin",
                "PacsgateVersion",
                "PacsgateDICOM",
                "PacsgateAuditIndex",
                "PacsgateCore",
                "PacsgateConfig",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "PacsgateHATests",
            dependencies: [
                "PacsgateTestSupport",
                "PacsgateHA", "PacsgateCore", "PacsgateConfig", "PacsgateApp", "PacsgateAdmin",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "PacsgateATNATests",
            dependencies: [
                "PacsgateAuditRecords",
                "PacsgateTestSupport",
                "PacsgateATNA", "PacsgateCore", "PacsgateConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "PacsgateReliabilityTests",
            dependencies: [
                "PacsgateAdmin",
                "PacsgateTestSupport",
                "PacsgateCore", "PacsgateConfig", "PacsgateApp", "PacsgateDICOM", "PacsgateHL7", "PacsgateTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // TLS on dicom and hl7 services with real peers (dcmtk +tls, Python's ssl with python-hl7), the gateway as the
        // executable wires its modules.
        .testTarget(
            name: "PacsgateSecureTransportTests",
            dependencies: [
                "PacsgateTestSupport",
                "PacsgateCore", "PacsgateDICOM", "PacsgateHL7", "PacsgateTLS", "PacsgateAdmin",
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "PacsgateServiceTests",
            dependencies: [
                "PacsgateTestSupport",
                "PacsgateApp", "PacsgateCore", "PacsgateHA", "PacsgateVersion",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "PacsgateIntegrationTests",
            dependencies: [
                "PacsgateTestSupport",
                "PacsgateApp",
                "PacsgateCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
