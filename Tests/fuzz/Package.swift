// swift-tools-version: 6.0
// libFuzzer entry points for RDR's parsers of untrusted bytes. Built only by run.sh, with
// `swift build -c release --sanitize=fuzzer`; the main package never builds them.
import PackageDescription

let fuzzTarget = { (name: String, deps: [Target.Dependency]) in
    Target.executableTarget(name: name, dependencies: deps)
}

let package = Package(
    name: "RDRFuzz",
    dependencies: [.package(name: "RDR", path: "../..")],
    targets: [
        fuzzTarget("FuzzMetadata", [.product(name: "RDR", package: "RDR")]),
        fuzzTarget("FuzzManifest", [.product(name: "RDR", package: "RDR")]),
        fuzzTarget("FuzzConfiguration", [.product(name: "ActiveUpgrade", package: "RDR")]),
        fuzzTarget(
            "FuzzArguments", [.product(name: "RDRArguments", package: "RDR"), .product(name: "RDR", package: "RDR")]),
        fuzzTarget("FuzzNBD", [.product(name: "NBDWire", package: "RDR")]),
    ],
    swiftLanguageModes: [.v6]
)
