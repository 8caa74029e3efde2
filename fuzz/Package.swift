// swift-tools-version:6.2
import PackageDescription

// libFuzzer targets for pacsgate's parsers. Not part of the main build: scripts/fuzz.sh builds this package with
// `swift build --sanitize=fuzzer --sanitize=address` and runs each executable with its seed corpus.
//
// FuzzConfigLoader compiles PacsgateConfig's single source file (a symlink) because the main package does not
// export PacsgateConfig as a product.
let package = Package(
    name: "pacsgate-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "pacsgate", path: ".."),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "FuzzDICOMPDU",
            dependencies: [
                .product(name: "PacsgateDICOM", package: "pacsgate"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "FuzzMLLP",
            dependencies: [
                .product(name: "PacsgateHL7", package: "pacsgate"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "FuzzClientHello",
            dependencies: [
                .product(name: "PacsgateTLS", package: "pacsgate"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "FuzzCRL",
            dependencies: [.product(name: "PacsgateTLS", package: "pacsgate")]
        ),
        .executableTarget(
            name: "FuzzProxyHeader",
            dependencies: [.product(name: "PacsgateCore", package: "pacsgate")]
        ),
        .executableTarget(
            name: "FuzzServerHello",
            dependencies: [
                .product(name: "PacsgateTLS", package: "pacsgate"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "FuzzConfigLoader",
            dependencies: [
                .product(name: "PacsgateCore", package: "pacsgate"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "FuzzConfig",
            dependencies: [
                "FuzzConfigLoader",
                .product(name: "PacsgateCore", package: "pacsgate"),
                .product(name: "PacsgateDICOM", package: "pacsgate"),
                .product(name: "PacsgateHL7", package: "pacsgate"),
                .product(name: "PacsgateTLS", package: "pacsgate"),
            ]
        ),
    ]
)
