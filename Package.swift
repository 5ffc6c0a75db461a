// swift-tools-version: 6.0
// RDR — Rapid Disk Resync. No third-party packages: Foundation (the engine only
// FoundationEssentials), Dispatch, Glibc, Synchronization and XCTest, plus a tiny C target for
// the syscalls Swift cannot see.
import PackageDescription

let package = Package(
    name: "RDR",
    products: [
        .library(name: "RDR", targets: ["RDR"]),
        .library(name: "ActiveUpgrade", targets: ["ActiveUpgrade"]),
        .library(name: "RDRArguments", targets: ["RDRArguments"]),
        .library(name: "NBDWire", targets: ["NBDWire"]),
        .library(name: "RDRServer", targets: ["RDRServer"]),
        .executable(name: "rdr", targets: ["rdr"]),
        .executable(name: "rdr-bench", targets: ["rdr-bench"]),
        .executable(name: "rdr-torture", targets: ["rdr-torture"]),
    ],
    targets: [
        .target(name: "CRDRSys"),
        .target(name: "RDR", dependencies: ["CRDRSys"]),
        // Test doubles of the OS seam (fault injection, power cuts): for the test targets only,
        // never a product and never linked into `rdr`.
        .target(name: "RDRTestSupport", dependencies: ["RDR"]),
        .target(name: "ActiveUpgrade", dependencies: ["RDR", "CRDRSys"]),
        // Command specs, help, usage and parsing: standard library only (it does not know the engine).
        .target(name: "RDRArguments"),
        // The NBD wire codec: standard library only (no Foundation, no Glibc), no I/O.
        .target(name: "NBDWire"),
        // The NBD server over RDR disks: sockets, connections, worker pool (Glibc, no Foundation).
        .target(name: "RDRServer", dependencies: ["RDR", "NBDWire", "CRDRSys"]),
        // MemberImportVisibility: members come only from modules `rdr` imports itself, so nothing of
        // Foundation's reaches the CLI through a dependency (it would pull ICU into the binary).
        .executableTarget(
            name: "rdr", dependencies: ["RDR", "ActiveUpgrade", "RDRArguments", "RDRServer", "CRDRSys"],
            swiftSettings: [.enableUpcomingFeature("MemberImportVisibility")]),
        .executableTarget(name: "rdr-bench", dependencies: ["RDR", "CRDRSys"], path: "Benchmarks/rdr-bench"),
        .executableTarget(name: "rdr-torture", dependencies: ["RDR"], path: "Tests/torture"),
        .testTarget(name: "RDRTests", dependencies: ["RDR", "RDRTestSupport", "CRDRSys"]),
        .testTarget(name: "ActiveUpgradeTests", dependencies: ["ActiveUpgrade", "RDR", "RDRTestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["rdr", "RDR", "ActiveUpgrade"]),
        .testTarget(name: "NBDWireTests", dependencies: ["NBDWire"]),
        .testTarget(name: "ServerTests", dependencies: ["rdr", "RDRServer", "RDR", "NBDWire"]),
    ],
    swiftLanguageModes: [.v6]
)
