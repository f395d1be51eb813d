import ArgumentParser
import EdgeRuntime
import Foundation
import Functions

/// `edge-run trigger <provider> <event>`: a correctly signed test event to the route of the
/// manifest's matching handler on a running server (as `stripe trigger`); prints the answer.
struct TriggerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trigger",
        abstract: "Send a signed test webhook to a running server.",
        discussion: """
            stripe payment_intent.succeeded | customer.subscription.created | invoice.payment_failed | checkout.session.completed
            clerk user.created
            resend email.delivered
            twilio status queued|sent|delivered|undelivered|failed
            The route is the first POST route of the function with the matching handler; the signing secret \
            is read from the environment or the env file (default: .dev.vars beside the manifest).
            """
    )

    @Argument(help: "stripe, clerk, resend or twilio.") var provider: String
    @Argument(help: "The event (twilio: status <MessageStatus>).") var event: [String]
    @OptionGroup var source: ManifestSource
    @Option(help: "The server.") var url = "http://127.0.0.1:8787"
    @Option(help: "JSON deep-merged into the event (twilio: form fields), e.g. '{\"data\":{\"object\":{\"amount\":5000}}}'.")
    var data: String?

    func run() async throws {
        guard let provider = TriggerEvents.provider(named: provider) else {
            fail("unknown provider \"\(self.provider)\" (one of: \(TriggerEvents.providers.map(\.name).joined(separator: ", ")))", command: "trigger")
        }
        let overrides: JSONValue?
        do { overrides = try data.map { try JSONValue.parse(Data($0.utf8)) } } catch {
            fail("--data is not valid JSON: \(error)", command: "trigger")
        }
        let (manifest, secrets) = try source.load(registry: BuiltinFunctions.registry(), requireSecrets: false)
        guard let function = manifest.functions.first(where: { $0.handler == provider.handler }) else {
            fail("\(source.manifest) has no function with handler \"\(provider.handler)\"", command: "trigger")
        }
        guard let route = function.routes.first(where: { $0.method == "POST" }) ?? function.routes.first else {
            fail("function \"\(function.name)\" (\(source.manifest)) has no route", command: "trigger")
        }
        guard let secret = secrets[provider.secretName], !secret.isEmpty else {
            fail("set \(provider.secretName) in the environment or the env file", command: "trigger")
        }
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        let path = Self.concretePath(route.path)
        // twilio.status checks the signature against its public_url when one is configured.
        let signedBase = function.config["public_url"]?.stringValue.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? base
        let signed: TriggerEvents.Signed
        do {
            signed = try TriggerEvents.make(
                provider: provider,
                event: event.joined(separator: " "),
                overrides: overrides,
                secret: secret,
                url: signedBase + path,
                now: Int64(Date().timeIntervalSince1970)
            )
        } catch let failure as TriggerEvents.Failure {
            fail(failure.description, command: "trigger")
        }
        var request = FetchRequest(
            method: "POST",
            url: base + path,
            headers: FetchHeaders(signed.headers.map { ($0.name, $0.value) }),
            body: signed.body
        )
        request.maxAttempts = 1
        let fetcher = CurlFetcher()
        defer { fetcher.shutdown() }
        let answer: FetchResponse
        do { answer = try await fetcher.fetch(request) } catch {
            fail("cannot reach \(base + path): \(error)", command: "trigger")
        }
        print("\(answer.status) POST \(path) (\(function.name))")
        let body = String(decoding: answer.body, as: UTF8.self)
        if !body.isEmpty { print(body) }
        if !(200..<300).contains(answer.status) { throw ExitCode(1) }
    }

    /// `route`'s path with `:param` and `*` segments filled in (`test`).
    static func concretePath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(":") || $0 == "*" ? "test" : String($0) }.joined(separator: "/")
    }
}
