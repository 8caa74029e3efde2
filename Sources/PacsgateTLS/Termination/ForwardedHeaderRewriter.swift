import NIOCore

/// Sets `X-Forwarded-For`, `X-Forwarded-Proto` and `Forwarded` on every HTTP/1.1 request of a terminated connection
/// (`forwarded_headers: true`), replacing any copy the client sent: a server behind the gateway can trust them.
///
/// A state machine over the decrypted client-to-server stream: each chunk goes in, bytes to forward come out. It
/// follows the request framing of RFC 9112 §6 exactly enough to find the next request head on a keep-alive
/// connection — `Content-Length` bodies are counted, `chunked` bodies are walked chunk by chunk (their bytes, and the
/// trailers, forwarded as they are) — and refuses what it cannot frame safely, because a request it failed to see
/// would reach the server with the client's own headers: both `Content-Length` and `Transfer-Encoding`, differing or
/// malformed lengths, a transfer coding other than a final `chunked`, obsolete line folding, a head over the size
/// limit, anything not HTTP/1.x (an HTTP/2 preface included), and requests that switch protocols (`Upgrade`,
/// `CONNECT`) — after a switch the gateway could no longer tell whether later bytes are requests.
///
/// Hand-written rather than NIO's `HTTPRequestDecoder`: that decoder re-serialises heads (header case and order,
/// whitespace) and buffers bodies as messages; this one forwards every byte it does not replace as it came.
struct ForwardedHeaderRewriter {
    /// What to do with a chunk.
    enum Action: Equatable {
        /// Forward these bytes to the server.
        case forward(ByteBuffer)
        /// Answer the client with this HTTP response and close; nothing more is forwarded.
        case refuse(status: String, reason: String)
    }

    private enum State {
        /// Collecting a request head (bytes so far).
        case head(ByteBuffer)
        /// A `Content-Length` body: bytes left.
        case body(Int)
        /// A chunked body.
        case chunked(ChunkState)
        /// Refused; everything later is dropped.
        case refused
    }

    private enum ChunkState {
        /// Collecting a chunk-size line.
        case sizeLine(ByteBuffer)
        /// Chunk data bytes left, then its CRLF (2 bytes).
        case data(Int)
        /// Collecting trailer lines until an empty one (the line so far).
        case trailer(ByteBuffer)
    }

    /// The largest request head accepted (request line and headers), as nginx's default `large_client_header_buffers`.
    static let maximumHeadSize = 32 * 1024
    /// The longest chunk-size line (size, extensions) accepted.
    static let maximumChunkLine = 4096

    private var state: State = .head(ByteBuffer())
    /// The header lines added to every request, CRLF-terminated.
    private let added: String

    /// - Parameter clientAddress: the client's IP address as text (`192.0.2.1`, `2001:db8::1`).
    init(clientAddress: String) {
        let node = clientAddress.contains(":") ? "\"[\(clientAddress)]\"" : clientAddress
        self.added = "X-Forwarded-For: \(clientAddress)\r\nX-Forwarded-Proto: https\r\nForwarded: for=\(node);proto=https\r\n"
    }

    /// The names replaced, lower-case.
    static let replacedNames: Set<String> = ["x-forwarded-for", "x-forwarded-proto", "forwarded"]

    /// Takes the next chunk of the client's stream.
    mutating func receive(_ data: ByteBuffer) -> [Action] {
        var input = data
        var actions: [Action] = []
        var passthrough = ByteBuffer()
        func flush() {
            if passthrough.readableBytes > 0 {
                actions.append(.forward(passthrough))
                passthrough = ByteBuffer()
            }
        }
        while input.readableBytes > 0 {
            switch self.state {
            case .refused:
                return actions
            case .head(var head):
                // Take bytes up to the end of the head (CRLF CRLF), at most the limit.
                var complete = false
                while let byte = input.readInteger(as: UInt8.self) {
                    head.writeInteger(byte)
                    if byte == 0x0A, head.readableBytes >= 4,
                        head.getBytes(at: head.writerIndex - 4, length: 4) == [0x0D, 0x0A, 0x0D, 0x0A]
                    {
                        complete = true
                        break
                    }
                    if head.readableBytes > Self.maximumHeadSize { break }
                }
                if !complete {
                    if head.readableBytes > Self.maximumHeadSize {
                        flush()
                        self.state = .refused
                        actions.append(.refuse(status: "431 Request Header Fields Too Large", reason: "request head over \(Self.maximumHeadSize) bytes"))
                        return actions
                    }
                    self.state = .head(head)
                    continue
                }
                switch self.rewrite(head) {
                case .success(let (rewritten, framing)):
                    passthrough.writeBytes(rewritten)
                    switch framing {
                    case .none: self.state = .head(ByteBuffer())
                    case .length(let length): self.state = length > 0 ? .body(length) : .head(ByteBuffer())
                    case .chunked: self.state = .chunked(.sizeLine(ByteBuffer()))
                    }
                case .failure(let refusal):
                    flush()
                    self.state = .refused
                    actions.append(.refuse(status: refusal.status, reason: refusal.reason))
                    return actions
                }
            case .body(let left):
                let count = min(left, input.readableBytes)
                if let slice = input.readSlice(length: count) { passthrough.writeImmutableBuffer(slice) }
                self.state = left - count > 0 ? .body(left - count) : .head(ByteBuffer())
            case .chunked(let chunk):
                if let refusal = self.walkChunked(chunk, &input, into: &passthrough) {
                    flush()
                    self.state = .refused
                    actions.append(.refuse(status: "400 Bad Request", reason: refusal))
                    return actions
                }
            }
        }
        flush()
        return actions
    }

    // MARK: chunked bodies

    /// Advances through a chunked body, copying its bytes; returns a reason when the framing is malformed.
    private mutating func walkChunked(_ chunk: ChunkState, _ input: inout ByteBuffer, into output: inout ByteBuffer) -> String? {
        switch chunk {
        case .sizeLine(var line):
            let text: Substring
            switch Self.takeLine(&input, into: &line, output: &output) {
            case .complete(let complete):
                text = complete
            case .partial:
                self.state = .chunked(.sizeLine(line))
                return nil
            case .invalid:
                return "chunk-size line over \(Self.maximumChunkLine) bytes or ending in a bare LF"
            }
            // chunk-size [ chunk-ext ]: hex digits, then optional extensions after ';' (or whitespace before it).
            let sizeText = text.prefix { $0.isHexDigit }
            let rest = text.dropFirst(sizeText.count)
            guard !sizeText.isEmpty, sizeText.count <= 15, rest.isEmpty || rest.first == ";" || rest.first == " " || rest.first == "\t",
                let size = Int(sizeText, radix: 16)
            else { return "malformed chunk size '\(text.prefix(40))'" }
            self.state = .chunked(size == 0 ? .trailer(ByteBuffer()) : .data(size + 2))
        case .data(let left):
            let count = min(left, input.readableBytes)
            guard let slice = input.readSlice(length: count) else { return nil }
            // The chunk's last two bytes must be its CRLF: `left - offset` is what was left before byte `offset`.
            for offset in max(0, count - 2)..<count {
                let position = left - offset
                guard position <= 2, let byte = slice.getInteger(at: slice.readerIndex + offset, as: UInt8.self) else { continue }
                if byte != (position == 2 ? 0x0D : 0x0A) { return "chunk data not followed by CRLF" }
            }
            output.writeImmutableBuffer(slice)
            self.state = .chunked(left - count > 0 ? .data(left - count) : .sizeLine(ByteBuffer()))
        case .trailer(var line):
            let text: Substring
            switch Self.takeLine(&input, into: &line, output: &output) {
            case .complete(let complete):
                text = complete
            case .partial:
                self.state = .chunked(.trailer(line))
                return nil
            case .invalid:
                return "trailer line over \(Self.maximumChunkLine) bytes or ending in a bare LF"
            }
            self.state = text.isEmpty ? .head(ByteBuffer()) : .chunked(.trailer(ByteBuffer()))
        }
        return nil
    }

    private enum LineProgress {
        /// The line without its CRLF.
        case complete(Substring)
        /// More bytes needed.
        case partial
        /// Over the limit, or ended by a bare LF.
        case invalid
    }

    /// Copies bytes of one CRLF-terminated line from `input` to `line` and `output`.
    private static func takeLine(_ input: inout ByteBuffer, into line: inout ByteBuffer, output: inout ByteBuffer) -> LineProgress {
        while let byte = input.readInteger(as: UInt8.self) {
            line.writeInteger(byte)
            output.writeInteger(byte)
            if byte == 0x0A {
                guard line.readableBytes >= 2, line.getInteger(at: line.writerIndex - 2, as: UInt8.self) == 0x0D else {
                    return .invalid
                }
                return .complete(Substring(line.getString(at: line.readerIndex, length: line.readableBytes - 2) ?? ""))
            }
            if line.readableBytes > Self.maximumChunkLine { return .invalid }
        }
        return .partial
    }

    // MARK: heads

    private enum Framing {
        case none
        case length(Int)
        case chunked
    }

    private struct Refusal: Error {
        var status: String
        var reason: String

        static func bad(_ reason: String) -> Refusal { Refusal(status: "400 Bad Request", reason: reason) }
    }

    /// The head with the client's forwarding headers removed and ours added before the blank line, and how the body
    /// that follows is framed.
    private func rewrite(_ head: ByteBuffer) -> Result<([UInt8], Framing), Refusal> {
        let bytes = Array(head.readableBytesView)
        // Lines without the final empty one; each must end in CRLF (a bare LF is refused: RFC 9112 §2.2 lets a
        // recipient accept it, but a server that does not would split the head differently).
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for index in bytes.indices where bytes[index] == 0x0A {
            guard index > start, bytes[index - 1] == 0x0D else { return .failure(.bad("bare LF in the request head")) }
            lines.append(bytes[start..<(index - 1)])
            start = index + 1
        }
        guard lines.count >= 2, lines.last?.isEmpty == true else { return .failure(.bad("malformed request head")) }
        lines.removeLast()
        let requestLine = String(decoding: lines[0], as: UTF8.self)
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isLetter || $0 == "-" }), !parts[1].isEmpty,
            parts[2] == "HTTP/1.1" || parts[2] == "HTTP/1.0"
        else { return .failure(.bad("not an HTTP/1.x request line")) }
        if parts[0] == "CONNECT" {
            return .failure(Refusal(status: "501 Not Implemented", reason: "CONNECT with forwarded_headers"))
        }

        var output: [UInt8] = Array(lines[0]) + [0x0D, 0x0A]
        var lengths: Set<String> = []
        var transferCodings: [String] = []
        for line in lines.dropFirst() {
            guard let first = line.first, first != 0x20, first != 0x09 else {
                return .failure(.bad("obsolete line folding in a header"))
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else {
                return .failure(.bad("header line without a name"))
            }
            let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
            guard name.utf8.allSatisfy(Self.isTokenCharacter) else { return .failure(.bad("malformed header name")) }
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingSpaces
            switch name.lowercased() {
            case let lower where Self.replacedNames.contains(lower):
                continue  // the client's own copy: dropped
            case "content-length":
                for item in value.split(separator: ",") { lengths.insert(String(item).trimmingSpaces) }
            case "transfer-encoding":
                transferCodings += value.split(separator: ",").map { String($0).trimmingSpaces.lowercased() }
            case "upgrade":
                return .failure(Refusal(status: "501 Not Implemented", reason: "protocol upgrade with forwarded_headers"))
            default:
                break
            }
            output += line
            output += [0x0D, 0x0A]
        }
        output += Array(self.added.utf8)
        output += [0x0D, 0x0A]

        if !transferCodings.isEmpty {
            guard lengths.isEmpty else { return .failure(.bad("both Content-Length and Transfer-Encoding")) }
            guard transferCodings.last == "chunked", transferCodings.filter({ $0 == "chunked" }).count == 1 else {
                return .failure(.bad("transfer coding other than a final chunked"))
            }
            return .success((output, .chunked))
        }
        guard lengths.count <= 1 else { return .failure(.bad("differing Content-Length values")) }
        guard let length = lengths.first else { return .success((output, .none)) }
        guard !length.isEmpty, length.count <= 15, length.allSatisfy(\.isASCIIDigit), let value = Int(length) else {
            return .failure(.bad("malformed Content-Length"))
        }
        return .success((output, .length(value)))
    }

    /// RFC 9110 §5.6.2 `tchar`.
    private static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { self.isASCII && self.isNumber }
}

extension String {
    /// Without leading and trailing spaces and tabs (optional whitespace around header values).
    fileprivate var trimmingSpaces: String {
        String(self.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
