public import NIOCore

/// The HTTP responses the gateway writes itself on a TLS service: the fallback page and the answer to plaintext HTTP.
/// Each is a complete `HTTP/1.1` response with `Connection: close`, built once when the configuration is read.
public struct FallbackPage: Sendable, Equatable {
    /// The whole response: status line, headers, body.
    public let response: ByteBuffer

    /// A `503 Service Unavailable` response carrying `html`.
    public init(html: String) {
        self.response = HTTPAnswers.response(
            status: "503 Service Unavailable",
            contentType: "text/html; charset=utf-8",
            body: html,
            extraHeaders: ["Retry-After: 30", "Cache-Control: no-store"]
        )
    }

    /// The page used when a terminating service sets no `fallback_page`.
    public static let builtIn = FallbackPage(
        html: """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>Service unavailable</title></head>
            <body><h1>Service unavailable</h1><p>No server is available right now. Please try again shortly.</p></body>
            </html>

            """
    )

    /// Largest `fallback_page` accepted.
    public static let maximumSize = 1 << 20
}

enum HTTPAnswers {
    /// The answer to a plaintext HTTP request on a TLS port (as nginx does with its 497), so a person pointing a
    /// browser or curl at `http://` learns what is wrong instead of seeing a reset.
    static let plaintextBadRequest = response(
        status: "400 Bad Request",
        contentType: "text/plain; charset=utf-8",
        body: "This port speaks TLS: use https:// (the request was sent in plain HTTP).\n",
        extraHeaders: []
    )

    static func response(status: String, contentType: String, body: String, extraHeaders: [String]) -> ByteBuffer {
        var head = "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.utf8.count)\r\n"
        for header in extraHeaders { head += header + "\r\n" }
        head += "Connection: close\r\n\r\n"
        var buffer = ByteBuffer(string: head)
        buffer.writeString(body)
        return buffer
    }
}
