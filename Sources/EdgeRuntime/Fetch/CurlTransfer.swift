import CCurl

/// What the driver hands back for one finished transfer.
struct CurlResult: Sendable {
    var status: Int
    var headers: FetchHeaders
    var body: [UInt8]
}

/// One libcurl easy handle with its buffers, confined to the driver thread from creation to
/// cleanup (it is never shared, so it needs no lock and is deliberately not `Sendable`).
final class CurlTransfer {
    let id: UInt64
    let easy: UnsafeMutableRawPointer
    let continuation: CheckedContinuation<CurlResult, any Error>
    /// The host the request goes to, for error messages (never the full URL).
    let host: String
    private let maxBytes: Int
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    fileprivate var body: [UInt8] = []
    fileprivate var headers = FetchHeaders()
    fileprivate var exceededLimit = false

    /// Creates and configures the easy handle for `request`.
    /// - Throws: ``FetchError`` `.invalidRequest` for a header curl cannot send safely or an
    ///   option curl refuses.
    init(id: UInt64, request: FetchRequest, host: String, continuation: CheckedContinuation<CurlResult, any Error>) throws(FetchError) {
        guard let easy = curl_easy_init() else { throw FetchError(.connection, "curl_easy_init failed") }
        self.id = id
        self.easy = easy
        self.host = host
        self.continuation = continuation
        self.maxBytes = request.maxResponseBytes
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        try configure(request)
    }

    deinit {
        curl_easy_cleanup(easy)
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    private func check(_ code: CURLcode, _ what: String) throws(FetchError) {
        guard code == CURLE_OK else {
            throw FetchError(.invalidRequest, "curl refused \(what) for \(host): \(String(cString: curl_easy_strerror(code)))")
        }
    }

    private func configure(_ request: FetchRequest) throws(FetchError) {
        let this = Unmanaged.passUnretained(self).toOpaque()
        try check(edge_curl_setopt_str(easy, CURLOPT_URL, request.url), "the URL")
        try check(edge_curl_setopt_str(easy, CURLOPT_PROTOCOLS_STR, "http,https"), "protocols")
        try check(edge_curl_setopt_str(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"), "redirect protocols")
        try check(edge_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
        try check(edge_curl_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 1), "TLS peer verification")
        try check(edge_curl_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 2), "TLS host verification")
        try check(edge_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(request.connectTimeout)), "connect timeout")
        try check(edge_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, Self.milliseconds(request.timeout)), "timeout")
        try check(edge_curl_setopt_long(easy, CURLOPT_FOLLOWLOCATION, request.followRedirects ? 1 : 0), "redirects")
        try check(edge_curl_setopt_long(easy, CURLOPT_MAXREDIRS, 5), "redirect limit")
        try check(edge_curl_setopt_off(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(max(request.maxResponseBytes, 0))), "size cap")
        try check(edge_curl_setopt_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer), "error buffer")
        try check(edge_curl_setopt_ptr(easy, CURLOPT_WRITEDATA, this), "write data")
        try check(edge_curl_setopt_ptr(easy, CURLOPT_HEADERDATA, this), "header data")
        try check(
            edge_curl_setopt_write_fn(easy) { data, size, count, user in
                let transfer = Unmanaged<CurlTransfer>.fromOpaque(user!).takeUnretainedValue()
                return transfer.receiveBody(data, size * count)
            },
            "write callback"
        )
        try check(
            edge_curl_setopt_header_fn(easy) { data, size, count, user in
                let transfer = Unmanaged<CurlTransfer>.fromOpaque(user!).takeUnretainedValue()
                transfer.receiveHeader(data, size * count)
                return size * count
            },
            "header callback"
        )
        try configureMethodAndBody(request)
        try configureHeaders(request)
    }

    private func configureMethodAndBody(_ request: FetchRequest) throws(FetchError) {
        let method = request.method
        guard !method.isEmpty, method.utf8.allSatisfy(Self.isTokenByte) else {
            throw FetchError(.invalidRequest, "invalid HTTP method for \(host)")
        }
        let body = request.body ?? (["POST", "PUT", "PATCH"].contains(method) ? [] : nil)
        if let body {
            // COPYPOSTFIELDS copies POSTFIELDSIZE bytes now: the Swift array need not outlive this call.
            try check(edge_curl_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)), "body size")
            let code = body.withUnsafeBytes { bytes in
                edge_curl_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, bytes.baseAddress ?? UnsafeRawPointer(errorBuffer))
            }
            try check(code, "the body")
            if method != "POST" { try check(edge_curl_setopt_str(easy, CURLOPT_CUSTOMREQUEST, method), "the method") }
        } else if method == "GET" {
            try check(edge_curl_setopt_long(easy, CURLOPT_HTTPGET, 1), "GET")
        } else if method == "HEAD" {
            try check(edge_curl_setopt_long(easy, CURLOPT_NOBODY, 1), "HEAD")
        } else {
            try check(edge_curl_setopt_str(easy, CURLOPT_CUSTOMREQUEST, method), "the method")
        }
    }

    private func configureHeaders(_ request: FetchRequest) throws(FetchError) {
        var lines: [String] = []
        for field in request.headers {
            guard !field.name.isEmpty, field.name.utf8.allSatisfy(Self.isTokenByte),
                !field.value.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 })
            else { throw FetchError(.invalidRequest, "invalid header \"\(field.name.prefix(64))\" for \(host)") }
            // "Name;" is curl's way to send a header with an empty value.
            lines.append(field.value.isEmpty ? "\(field.name);" : "\(field.name): \(field.value)")
        }
        // Remove curl's defaults the caller did not ask for: the form Content-Type that
        // POSTFIELDS implies, and "Expect: 100-continue" (a round trip for nothing).
        if !request.headers.contains("Content-Type") { lines.append("Content-Type:") }
        if !request.headers.contains("Expect") { lines.append("Expect:") }
        if !request.headers.contains("User-Agent") { lines.append("User-Agent: edge-run") }
        for line in lines { headerList = curl_slist_append(headerList, line) }
        try check(edge_curl_setopt_slist(easy, CURLOPT_HTTPHEADER, headerList), "headers")
    }

    fileprivate func receiveBody(_ data: UnsafeMutablePointer<CChar>?, _ count: Int) -> Int {
        guard let data, count > 0 else { return count }
        guard body.count + count <= maxBytes else {
            exceededLimit = true
            return 0  // makes curl abort with CURLE_WRITE_ERROR
        }
        body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: count))
        return count
    }

    fileprivate func receiveHeader(_ data: UnsafeMutablePointer<CChar>?, _ count: Int) {
        guard let data else { return }
        // Trim CR/LF as bytes: "\r\n" is one Character, so String.hasSuffix("\n") misses it.
        var bytes = UnsafeRawBufferPointer(start: data, count: count)[...]
        while let last = bytes.last, last == 10 || last == 13 { bytes.removeLast() }
        let line = String(decoding: bytes, as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            headers = FetchHeaders()  // a new response (after 1xx or a redirect) starts afresh
        } else if let colon = line.firstIndex(of: ":") {
            let name = String(line[..<colon])
            let value = String(line[line.index(after: colon)...]).trimmingWhitespace
            headers.add(name: name, value: value)
        }
    }

    /// The outcome once curl reports the transfer done with `code`.
    func result(_ code: CURLcode) -> Result<CurlResult, FetchError> {
        if code == CURLE_OK {
            var status = 0
            _ = edge_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
            return .success(CurlResult(status: status, headers: headers, body: body))
        }
        if exceededLimit || code == CURLE_FILESIZE_EXCEEDED {
            return .failure(FetchError(.tooLarge, "response from \(host) is larger than \(maxBytes) bytes"))
        }
        let detail = errorBuffer.pointee != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            var connectTime: curl_off_t = 0
            _ = edge_curl_getinfo_off(easy, CURLINFO_CONNECT_TIME_T, &connectTime)
            let phase = connectTime == 0 ? "connecting to" : "waiting for"
            return .failure(FetchError(.timeout, "timed out \(phase) \(host)"))
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            return .failure(FetchError(.invalidRequest, "cannot request \(host): \(detail)"))
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM,
            CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            return .failure(FetchError(.tls, "TLS with \(host) failed: \(detail)"))
        default:
            return .failure(FetchError(.connection, "connection to \(host) failed: \(detail)"))
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        max(1, Int((duration.seconds * 1000).rounded(.up)))
    }

    /// RFC 9110 token characters (method and header names).
    private static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }
}
