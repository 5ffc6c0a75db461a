// swift-tools-version: 6.0
// RDR — Rapid Disk Resync. No third-party packages (see DESIGN.md): Foundation, Dispatch,
// Glibc, Synchronization and XCTest only, plus a tiny C target for the syscalls Swift cannot see.
import PackageDescription

let package = Package(
    name: "RDR",
    products: [
        .library(name: "RDR", targets: ["RDR"]),
        .library(name: "ActiveUpgrade", targets: ["ActiveUpgrade"]),
        .library(name: "RDRArguments", targets: ["RDRArguments"]),
        .library(name: "NBDWire", targets: ["NBDWire"]),
        .executable(name: "rdr", targets: ["rdr"]),
        .executable(name: "rdr-bench", targets: ["rdr-bench"]),
        .executable(name: "rdr-torture", targets: ["rdr-torture"]),
    ],
    targets: [
        .target(name: "CRDRSys"),
        .target(name: "RDR", dependencies: ["CRDRSys"]),
        .target(name: "ActiveUpgrade", dependencies: ["RDR", "CRDRSys"]),
        .target(name: "RDRArguments", dependencies: ["RDR"]),
        // The NBD wire codec: standard library only (no Foundation, no Glibc), no I/O.
        .target(name: "NBDWire"),
        .executableTarget(name: "rdr", dependencies: ["RDR", "ActiveUpgrade", "RDRArguments", "CRDRSys"]),
        .executableTarget(name: "rdr-bench", dependencies: ["RDR", "CRDRSys"], path: "Benchmarks/rdr-bench"),
        .executableTarget(name: "rdr-torture", dependencies: ["RDR"], path: "Tests/torture"),
        .testTarget(name: "RDRTests", dependencies: ["RDR", "CRDRSys"]),
        .testTarget(name: "ActiveUpgradeTests", dependencies: ["ActiveUpgrade", "RDR"]),
        .testTarget(name: "CLITests", dependencies: ["rdr", "RDR", "ActiveUpgrade"]),
        .testTarget(name: "NBDWireTests", dependencies: ["NBDWire"]),
    ],
    swiftLanguageModes: [.v6]
)
