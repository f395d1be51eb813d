/// A gauge a storage backend reports for `/_edge/metrics`, read when the endpoint is scraped
/// (LMDB: map size, pages in use, page size, reader slots).
public struct StorageMetric: Sendable, Hashable {
    /// The series name, e.g. `edge_lmdb_map_size_bytes`.
    public var name: String
    /// The `# HELP` text.
    public var help: String
    public var value: Double

    public init(name: String, help: String, value: Double) {
        self.name = name
        self.help = help
        self.value = value
    }
}

extension StorageBackend {
    /// No storage series by default.
    public func metrics() -> [StorageMetric] { [] }
}
