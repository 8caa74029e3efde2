import NIOCore
import PacsgateTLS
import Testing

@Suite("PlaintextHTTPDetector")
struct PlaintextHTTPDetectorTests {
    @Test(
        "HTTP request lines and the HTTP/2 preface are recognised",
        arguments: [
            "GET / HTTP/1.1\r\n", "POST /studies HTTP/1.1\r\n", "PUT /x HTTP/1.1", "HEAD / HTTP/1.0", "DELETE /x",
            "OPTIONS * HTTP/1.1", "PATCH /x", "CONNECT a.mach7.test:443 HTTP/1.1", "TRACE /", "PRI * HTTP/2.0\r\n",
        ]
    )
    func http(request: String) {
        #expect(PlaintextHTTPDetector.looksLikeHTTPRequest(ByteBuffer(string: request)))
    }

    @Test(
        "TLS, other protocols, partial and lower-case methods are not",
        arguments: [
            [UInt8]([0x16, 0x03, 0x01, 0x02, 0x00]), Array("GE".utf8), Array("GET".utf8), Array("get / HTTP/1.1".utf8),
            Array("GETX /".utf8), [0x0B] + Array("MSH|".utf8), [0x01, 0x00], [],
        ]
    )
    func notHTTP(bytes: [UInt8]) {
        #expect(!PlaintextHTTPDetector.looksLikeHTTPRequest(ByteBuffer(bytes: bytes)))
    }

    @Test("only the readable bytes count")
    func readerIndex() {
        var buffer = ByteBuffer(string: "xxGET / HTTP/1.1")
        #expect(!PlaintextHTTPDetector.looksLikeHTTPRequest(buffer))
        buffer.moveReaderIndex(forwardBy: 2)
        #expect(PlaintextHTTPDetector.looksLikeHTTPRequest(buffer))
    }
}
