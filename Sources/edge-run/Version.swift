/// What `edge-run --version` reports: the release version and the git commit it was built from.
///
/// A plain `swift build` reports `dev (unknown)`. `scripts/release` compiles with
/// `-D EDGE_RUN_RELEASE_STAMP` and writes `ReleaseStamp.generated.swift` (git-ignored) beside
/// this file, which then supplies the values; the tracked tree is never rewritten.
enum BuildInfo {
    #if EDGE_RUN_RELEASE_STAMP
    static let version = ReleaseStamp.version
    static let commit = ReleaseStamp.commit
    #else
    static let version = "dev"
    static let commit = "unknown"
    #endif

    /// `edge-run 0.1.0 (abc1234)`.
    static var versionLine: String { "edge-run \(version) (\(commit))" }
}
