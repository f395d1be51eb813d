// Raw JWT verifications per second through edge-run's verifier (token cache off), one task,
// with the committed fixture tokens (Tests/EdgeRuntimeTests/Fixtures/jwt). Run by
// scripts/bench-runtime beside `openssl speed rsa2048 ecdsap256`.
//
//   .build/release/jwt-bench Tests/EdgeRuntimeTests/Fixtures/jwt/jwt-fixtures.json
import EdgeCore
import EdgeRuntime
import Foundation
import KVStore

/// Serves the fixture JWKS in process, so only verification is measured.
struct FixtureJWKS: HTTPFetching {
    let body: [UInt8]
    func fetch(_ request: FetchRequest) async throws -> FetchResponse {
        FetchResponse(status: 200, headers: ["Content-Type": "application/json"], body: body)
    }
}

let path = CommandLine.arguments.dropFirst().first ?? "Tests/EdgeRuntimeTests/Fixtures/jwt/jwt-fixtures.json"
let fixtures = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: path)))
let config = AuthProviderConfig(
    jwksURL: "https://issuer.test/jwks",
    issuer: fixtures["issuer"]!.stringValue!,
    audiences: [fixtures["audience"]!.stringValue!],
    algorithms: [.rs256, .es256]
)
let clock = ManualClock(Double(fixtures["now"]!.intValue!))
for alg in ["RS256", "ES256"] {
    let verifier = JWTAuthenticator(
        name: "bench",
        config: config,
        fetcher: FixtureJWKS(body: Array(fixtures["jwks"]!.serialized())),
        kv: nil,
        clock: clock,
        tokenCacheCapacity: 0
    )
    let token = fixtures["valid"]![alg]!.stringValue!
    _ = try await verifier.verify(bearer: token)
    let start = Date()
    var count = 0
    while Date().timeIntervalSince(start) < 2 {
        for _ in 0..<200 { _ = try await verifier.verify(bearer: token) }
        count += 200
    }
    print("edge-run \(alg) verify: \(Int(Double(count) / Date().timeIntervalSince(start))) /s")
}
