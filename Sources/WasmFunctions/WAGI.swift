import EdgeRuntime
import Foundation

/// The WAGI convention (CGI for WebAssembly, as Spin's WAGI executor runs it): the request as
/// environment variables and stdin; CGI headers, a blank line and the body on stdout.
enum WAGI {
    /// The CGI environment of `request`: method, path, query, headers as `HTTP_<NAME>`, route
    /// parameters as `X_PARAM_<NAME>`, the matched route as `X_MATCHED_ROUTE`.
    static func environment(for request: EdgeRequest, functionName: String) -> [(String, String)] {
        var env: [(String, String)] = [
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("SERVER_SOFTWARE", "edge-run"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("REQUEST_METHOD", request.method),
            ("SCRIPT_NAME", ""),
            ("PATH_INFO", request.path.removingPercentEncoding ?? request.path),
            ("X_RAW_PATH_INFO", request.path),
            ("QUERY_STRING", request.query),
            ("X_MATCHED_ROUTE", request.route ?? ""),
            ("CONTENT_LENGTH", "\(request.body.count)"),
            ("CONTENT_TYPE", request.headers["Content-Type"] ?? ""),
            ("REMOTE_ADDR", request.remoteAddress ?? ""),
            ("EDGE_EVENT", "http"),
            ("EDGE_REQUEST_ID", request.requestID),
            ("EDGE_FUNCTION", functionName),
        ]
        let host = request.headers["Host"] ?? "localhost"
        let (name, port) = splitHost(host)
        env.append(("SERVER_NAME", name))
        env.append(("SERVER_PORT", port))
        env.append(("X_FULL_URL", "http://\(host)\(request.path)\(request.query.isEmpty ? "" : "?" + request.query)"))
        for (param, value) in request.params.sorted(by: { $0.key < $1.key }) {
            env.append(("X_PARAM_" + variableName(param == "*" ? "wildcard" : param), value))
        }
        var seen: [String: Int] = [:]
        for field in request.headers {
            let name = "HTTP_" + variableName(field.name)
            if let at = seen[name] {
                env[at].1 += ", " + field.value
            } else {
                seen[name] = env.count
                env.append((name, field.value))
            }
        }
        return env
    }

    /// `Content-Type` → `CONTENT_TYPE`: upper case, anything but letters and digits as `_`.
    static func variableName(_ name: String) -> String {
        String(String.UnicodeScalarView(name.uppercased().unicodeScalars.map { ("A"..."Z").contains($0) || ("0"..."9").contains($0) ? $0 : "_" }))
    }

    private static func splitHost(_ host: String) -> (String, String) {
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            let rest = host[host.index(after: close)...]
            return (String(host[...close]), rest.hasPrefix(":") ? String(rest.dropFirst()) : "80")
        }
        let parts = host.split(separator: ":", maxSplits: 1)
        return (String(parts.first ?? ""), parts.count > 1 ? String(parts[1]) : "80")
    }

    /// Headers a guest may not set: the server frames the body itself.
    static let framingHeaders: Set<String> = ["content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"]

    /// The response a guest wrote: CGI headers (`Status: 201`, `Location`, any other), a blank
    /// line, the body.
    /// - Throws: ``WAGIOutputError`` when there is no header block or a header is malformed.
    static func response(from output: [UInt8]) throws(WAGIOutputError) -> EdgeResponse {
        guard let (headerEnd, bodyStart) = headerBlockEnd(output) else {
            throw WAGIOutputError(
                "stdout has no CGI header block: write headers such as \"Content-Type: text/plain\", then a blank line, then the body"
            )
        }
        var response = EdgeResponse(status: 200)
        var status: Int?
        let lines = String(decoding: output[..<headerEnd], as: UTF8.self).split(omittingEmptySubsequences: true) { $0 == "\n" || $0 == "\r\n" }
        for line in lines {
            let line = line.trimmingCharacters(in: .whitespaces)
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw WAGIOutputError("malformed CGI header line \"\(line.prefix(80))\"")
            }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name.lowercased() == "status" {
                guard let code = Int(value.prefix { $0.isNumber }), (100...599).contains(code) else {
                    throw WAGIOutputError("bad CGI Status header \"\(value.prefix(40))\"")
                }
                status = code
            } else if !framingHeaders.contains(name.lowercased()) {
                response.headers.add(name: name, value: value)
            }
        }
        response.status = status ?? (response.headers.contains("Location") ? 302 : 200)
        response.body = Data(output[bodyStart...])
        return response
    }

    /// Where the headers end and the body starts: the first empty line (`\n\n` or `\r\n\r\n`).
    private static func headerBlockEnd(_ output: [UInt8]) -> (Int, Int)? {
        var i = 0
        while i < output.count {
            if output[i] == 0x0A {
                if i + 1 < output.count, output[i + 1] == 0x0A { return (i, i + 2) }
                if i + 2 < output.count, output[i + 1] == 0x0D, output[i + 2] == 0x0A { return (i, i + 3) }
                if i == 0 { return (0, 1) }
            }
            i += 1
        }
        return nil
    }
}

/// A guest's stdout is not a CGI response.
struct WAGIOutputError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
