public import NIOCore

/// Recognises a plaintext HTTP request sent to a TLS port, so the gateway can log "client sent HTTP to a TLS
/// port" instead of a bare "not a TLS record".
public enum PlaintextHTTPDetector {
    /// Request-line starts of HTTP/1.x methods, and the HTTP/2 prior-knowledge preface (`PRI * HTTP/2.0`).
    private static let prefixes: [[UInt8]] = [
        "GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE ", "PRI * ",
    ].map { Array($0.utf8) }

    /// Whether the readable bytes of `buffer` start with an HTTP method and a space. Reads nothing; `false`
    /// while too few bytes have arrived to see a whole method.
    public static func looksLikeHTTPRequest(_ buffer: ByteBuffer) -> Bool {
        let bytes = buffer.readableBytesView
        for prefix in self.prefixes where bytes.starts(with: prefix) {
            return true
        }
        return false
    }

    /// Whether the readable bytes of `buffer` are too few to tell yet: non-empty and a proper prefix of one of the
    /// method starts (`GE`, `OPTI`), so more bytes might still make `looksLikeHTTPRequest` true. Reads nothing.
    public static func couldBecomeHTTPRequest(_ buffer: ByteBuffer) -> Bool {
        let bytes = buffer.readableBytesView
        guard !bytes.isEmpty else { return false }
        for prefix in self.prefixes where bytes.count < prefix.count && prefix.starts(with: bytes) {
            return true
        }
        return false
    }
}
