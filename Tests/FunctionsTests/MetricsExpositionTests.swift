import EdgeRuntime
import EdgeTestSupport
import Foundation
import Queues
import Testing

/// `/_edge/metrics` by Prometheus's conventions: monotonic counts are counters named `…_total`
/// that move with real deliveries; process and LMDB series are read at scrape time.
@Suite("Metrics exposition", .serialized)
struct MetricsExpositionTests {
    /// The exposition as `# TYPE` per family and value per sample line (`name{labels}`).
    struct Exposition {
        var types: [String: String] = [:]
        var samples: [String: Double] = [:]

        init(_ text: String) {
            for line in text.split(separator: "\n") {
                if line.hasPrefix("# TYPE ") {
                    let parts = line.split(separator: " ")
                    if parts.count == 4 { types[String(parts[2])] = String(parts[3]) }
                } else if !line.hasPrefix("#"), let space = line.lastIndex(of: " ") {
                    samples[String(line[..<space])] = Double(line[line.index(after: space)...])
                }
            }
        }

        /// The family a sample belongs to (its name without labels, and without a histogram suffix).
        func family(of sample: String) -> String {
            let name = String(sample.prefix { $0 != "{" })
            for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) && types[name] == nil {
                return String(name.dropLast(suffix.count))
            }
            return name
        }
    }

    @Test func queueCountsAreCountersThatMoveWithDeliveriesAndProcessAndLMDBSeriesArePresent() async throws {
        let target = try await FakeProvider.start { request in
            FakeProvider.Reply(status: request.text.contains("fail") ? 500 : 200)
        }
        let manifest: JSONValue = [
            "secrets": ["SIGNING"],
            "kv_namespaces": [["binding": "KV"]],
            "queues": [["name": "outbound", "consumer": ["function": "deliver", "max_batch_timeout": 0, "max_retries": 1, "retry_delay": 0]]],
            "functions": [
                ["name": "deliver", "handler": "webhooks.deliver", "config": ["url": .string(target.url("/hook")), "signing_secret": "SIGNING"]]
            ],
        ]
        let s = try await RunningServer.start(manifest: manifest, secrets: ["SIGNING": "k"])
        let before = Exposition(try await s.client.get("/_edge/metrics").text)
        #expect(before.samples[#"edge_queue_delivered_total{queue="outbound"}"#] == 0)
        let queue = try s.server.env.queue("outbound")
        for body in ["ok-1", "ok-2", "fail"] { _ = try await queue.send(body: Data(body.utf8), contentType: .text) }
        let settled = await eventually(timeout: 20) {
            let m = Exposition((try? await s.client.get("/_edge/metrics").text) ?? "")
            return m.samples[#"edge_queue_dead_lettered_total{queue="outbound"}"#] == 1
                && m.samples[#"edge_queue_delivered_total{queue="outbound"}"#] == 2
        }
        #expect(settled)
        let response = try await s.client.get("/_edge/metrics")
        #expect(response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8")
        let m = Exposition(response.text)
        for name in [
            "edge_queue_delivered_total", "edge_queue_retried_total", "edge_queue_dead_lettered_total", "edge_queue_expired_total",
            "edge_requests_total", "process_cpu_seconds_total",
        ] {
            #expect(m.types[name] == "counter", "\(name) is \(m.types[name] ?? "missing")")
        }
        #expect(m.samples[#"edge_queue_retried_total{queue="outbound"}"#] == 1)
        #expect(m.samples[#"edge_queue_dead_letter_store{queue="outbound"}"#] == 1)
        #expect(m.samples[#"edge_queue_pending{queue="outbound"}"#] == 0)
        // Prometheus's naming: every `_total` series is a counter, every sample has a `# TYPE`.
        for sample in m.samples.keys {
            let family = m.family(of: sample)
            #expect(m.types[family] != nil, "\(sample) has no # TYPE")
            if family.hasSuffix("_total") { #expect(m.types[family] == "counter", "\(family) ends in _total but is a \(m.types[family] ?? "?")") }
        }
        for gauge in [
            "process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
            "process_start_time_seconds", "edge_lmdb_map_size_bytes", "edge_lmdb_pages_used", "edge_lmdb_page_size_bytes",
            "edge_lmdb_readers",
        ] {
            #expect(m.types[gauge] == "gauge", "\(gauge)")
            #expect((m.samples[gauge] ?? 0) > 0, "\(gauge) is \(m.samples[gauge].map { "\($0)" } ?? "missing")")
        }
        let start = m.samples["process_start_time_seconds"] ?? 0
        #expect(abs(start - Date().timeIntervalSince1970) < 3600, "process_start_time_seconds \(start) is not this process's start")
        let pages = (m.samples["edge_lmdb_pages_used"] ?? 0) * (m.samples["edge_lmdb_page_size_bytes"] ?? 0)
        #expect(pages <= m.samples["edge_lmdb_map_size_bytes"] ?? 0)
        try await s.stopAndClean()
        try await target.stop()
    }
}
