public import NIOCore

/// Parses the TLS ClientHello at the start of a client's byte stream, without consuming it.
///
/// Call `parse(_:)` with everything received so far after each read: it returns `nil` until the whole
/// ClientHello has arrived, then the `ClientHello`, or throws a `TLSParseError` as soon as the bytes received
/// so far are certain to be wrong. Feeding a stream in any split therefore gives `nil`, …, `nil`, then the same
/// value or error as feeding it whole. The buffer is never modified, so it can be forwarded unchanged.
///
/// What is accepted (RFC 8446 §4.1.2, §5.1; RFC 5246 §6.2, §7.4.1.2; RFC 6066 §3; RFC 7301 §3.1):
/// - handshake records (type 22, major version 3) of 1…`maximumRecordLength` bytes; the ClientHello may be
///   split across any number of them, and no record may carry bytes beyond it;
/// - all records together at most `maximumBytes`, checked as soon as a record or handshake length is read;
/// - every length checked against the structure that contains it, with no bytes left over; no extension type
///   twice; `server_name` holding exactly one `host_name` that is a valid DNS name (an invalid one is an
///   error, not a flagged value: RFC 6066 forbids IP literals and control bytes, and a server that cannot use
///   the name should refuse with `unrecognized_name`, which `TLSParseError.alert` suggests); ALPN and
///   `supported_versions` lists well formed.
///
/// A ClientHello inside one record (the usual case) is parsed in place; one spread over several records is
/// copied once into a buffer of the handshake message's size, bounded by `maximumBytes`. Each call walks the
/// record headers from the start (cheap: one step per record), so a hello arriving in very many tiny records
/// and reads costs quadratic time within the `maximumBytes` bound; the caller's inspection deadline limits it.
///
/// Why not NIO's `SNIHandler`: it parses only the first record (large post-quantum hellos span several), it
/// returns only the host name (no ALPN, versions, extension list), and it turns every error into an untyped
/// fallback; it does not validate the name beyond ASCII. It is also a `ChannelHandler`, while this parser is a
/// pure function the inspector drives.
public struct ClientHelloParser: Sendable {
    /// Default bound on the bytes of records carrying one ClientHello: 16 KiB, as Envoy and BoringSSL.
    public static let defaultMaximumBytes = 16 * 1024

    /// Largest record length accepted: 2^14 plus 256 bytes of tolerance. A plaintext record may carry at
    /// most 2^14 bytes; the tolerance is the expansion RFC 8446 §5.2 allows a protected record, so no record
    /// a conformant stack emits is refused for its length alone.
    public static let maximumRecordLength = (1 << 14) + 256

    /// Bound on the bytes (record headers included) the ClientHello may span.
    public let maximumBytes: Int

    /// - Parameter maximumBytes: bound on the records carrying the ClientHello, headers included.
    public init(maximumBytes: Int = ClientHelloParser.defaultMaximumBytes) {
        self.maximumBytes = maximumBytes
    }

    private static let recordHeaderLength = 5
    private static let handshakeHeaderLength = 4
    private static let contentTypeHandshake: UInt8 = 22
    private static let handshakeTypeClientHello: UInt8 = 1

    /// Parses the ClientHello from the readable bytes of `buffer`, which is not modified.
    ///
    /// - Returns: the ClientHello, or `nil` if more bytes are needed. `nil` implies fewer than `maximumBytes`
    ///   bytes are readable (every record must end within the bound), so the caller never buffers more.
    /// - Throws: `TLSParseError` with an offset relative to `buffer.readerIndex`.
    public func parse(_ buffer: ByteBuffer) throws(TLSParseError) -> ClientHello? {
        let base = buffer.readerIndex
        func byte(_ offset: Int) -> UInt8? {
            buffer.getInteger(at: base + offset, as: UInt8.self)
        }

        var recordStart = 0
        var recordCount = 0
        var handshakeBytesSeen = 0  // handshake bytes in the complete records before `recordStart`
        var handshakeHeader: UInt32 = 0
        var handshakeLengthOffset = 0
        var messageLength: Int? = nil  // 4 + the handshake length, once its header has been read

        while true {
            // Record header: type, version, length.
            guard let contentType = byte(recordStart) else { return nil }
            if recordCount == 0, contentType & 0x80 != 0 {
                throw TLSParseError(.sslv2Hello, at: recordStart)
            }
            guard contentType == Self.contentTypeHandshake else {
                throw TLSParseError(.notHandshakeRecord(contentType: contentType), at: recordStart)
            }
            guard let major = byte(recordStart + 1), let minor = byte(recordStart + 2) else { return nil }
            guard major == 3 else {
                let version = UInt16(major) << 8 | UInt16(minor)
                throw TLSParseError(.unsupportedRecordVersion(version), at: recordStart + 1)
            }
            guard let lengthHigh = byte(recordStart + 3), let lengthLow = byte(recordStart + 4) else { return nil }
            let length = Int(lengthHigh) << 8 | Int(lengthLow)
            guard length > 0 else {
                throw TLSParseError(.emptyHandshakeFragment, at: recordStart + 3)
            }
            guard length <= Self.maximumRecordLength else {
                throw TLSParseError(.recordTooLong(length: length), at: recordStart + 3)
            }
            let fragmentStart = recordStart + Self.recordHeaderLength
            let recordEnd = fragmentStart + length
            guard recordEnd <= self.maximumBytes else {
                throw TLSParseError(.clientHelloTooLarge(limit: self.maximumBytes), at: recordStart + 3)
            }

            // Handshake header (type, uint24 length), which may itself straddle records.
            var position = fragmentStart
            var headerBytesRead = handshakeBytesSeen
            while headerBytesRead < Self.handshakeHeaderLength, position < recordEnd {
                guard let headerByte = byte(position) else { return nil }
                if headerBytesRead == 0, headerByte != Self.handshakeTypeClientHello {
                    throw TLSParseError(.notClientHello(handshakeType: headerByte), at: position)
                }
                if headerBytesRead == 1 {
                    handshakeLengthOffset = position
                }
                handshakeHeader = handshakeHeader << 8 | UInt32(headerByte)
                headerBytesRead += 1
                position += 1
                if headerBytesRead == Self.handshakeHeaderLength {
                    let total = Self.handshakeHeaderLength + Int(handshakeHeader & 0xFF_FFFF)
                    // Even if the rest of the message came in this record, the stream would end here.
                    guard fragmentStart + (total - handshakeBytesSeen) <= self.maximumBytes else {
                        throw TLSParseError(
                            .clientHelloTooLarge(limit: self.maximumBytes),
                            at: handshakeLengthOffset
                        )
                    }
                    messageLength = total
                }
            }

            if let messageLength {
                let stillNeeded = messageLength - handshakeBytesSeen
                guard length <= stillNeeded else {
                    throw TLSParseError(.dataAfterClientHello, at: fragmentStart + stillNeeded)
                }
            }
            guard recordEnd <= buffer.readableBytes else { return nil }
            handshakeBytesSeen += length
            recordCount += 1
            recordStart = recordEnd

            if let messageLength, handshakeBytesSeen == messageLength {
                let body = Self.messageBody(buffer, recordCount: recordCount, messageLength: messageLength)
                do {
                    return try Self.parseBody(body, recordCount: recordCount, byteCount: recordEnd)
                } catch {
                    let offset = Self.streamOffset(ofMessageOffset: error.offset, in: buffer, recordCount: recordCount)
                    throw TLSParseError(error.reason, at: offset)
                }
            }
        }
    }

    /// The handshake message without its 4-byte header: a slice of `buffer` when one record holds it, else a
    /// copy of the record fragments. The records have been validated and are complete.
    private static func messageBody(_ buffer: ByteBuffer, recordCount: Int, messageLength: Int) -> ByteBuffer {
        var stream = buffer
        var message: ByteBuffer
        if recordCount == 1 {
            message =
                stream.getSlice(at: stream.readerIndex + Self.recordHeaderLength, length: messageLength)
                ?? ByteBuffer()
        } else {
            message = ByteBufferAllocator().buffer(capacity: messageLength)
            for _ in 0..<recordCount {
                guard let length = stream.getInteger(at: stream.readerIndex + 3, as: UInt16.self),
                    stream.readSlice(length: Self.recordHeaderLength) != nil,
                    var fragment = stream.readSlice(length: Int(length))
                else { break }
                message.writeBuffer(&fragment)
            }
        }
        message.moveReaderIndex(forwardBy: min(Self.handshakeHeaderLength, message.readableBytes))
        return message
    }

    /// Maps an offset in the handshake message to the offset in the record stream. An offset just past the
    /// message maps to just past its last record.
    private static func streamOffset(
        ofMessageOffset messageOffset: Int,
        in buffer: ByteBuffer,
        recordCount: Int
    ) -> Int {
        var recordStart = 0
        var messageBytesBefore = 0
        for _ in 0..<recordCount {
            guard let length = buffer.getInteger(at: buffer.readerIndex + recordStart + 3, as: UInt16.self) else {
                break
            }
            let fragmentLength = Int(length)
            if messageOffset < messageBytesBefore + fragmentLength {
                return recordStart + Self.recordHeaderLength + (messageOffset - messageBytesBefore)
            }
            messageBytesBefore += fragmentLength
            recordStart += Self.recordHeaderLength + fragmentLength
        }
        return recordStart
    }

    // MARK: - ClientHello body

    private enum ExtensionType {
        static let serverName: UInt16 = 0
        static let alpn: UInt16 = 16
        static let supportedVersions: UInt16 = 43
    }

    /// Parses the ClientHello body. Error offsets are relative to the handshake message (its type byte is 0).
    private static func parseBody(
        _ body: ByteBuffer,
        recordCount: Int,
        byteCount: Int
    ) throws(TLSParseError) -> ClientHello {
        var reader = FieldReader(body, origin: Self.handshakeHeaderLength)

        let versionOffset = reader.offset
        let legacyVersion = try reader.readUInt16(.legacyVersion)
        guard legacyVersion >> 8 == 3 else {
            throw TLSParseError(.unsupportedVersion(legacyVersion), at: versionOffset)
        }
        try reader.skip(32, .random)
        _ = try reader.readVector(.sessionID, prefix: UInt8.self, allowed: 0...32)
        let cipherSuites = try reader.readVector(.cipherSuites, prefix: UInt16.self, allowed: 2...0xFFFE, multipleOf: 2)
        _ = try reader.readVector(.compressionMethods, prefix: UInt8.self, allowed: 1...0xFF)

        var extensionTypes = ExtensionTypeList()
        var serverName: ServerName? = nil
        var alpnProtocols: [ALPNProtocol] = []
        var supportedVersions: [TLSVersion] = []

        // TLS ≤ 1.2 clients may omit the extensions block entirely (RFC 5246 §7.4.1.2).
        if !reader.isAtEnd {
            var extensions = try reader.readVector(.extensions, prefix: UInt16.self)
            try reader.expectEnd(.clientHello)
            while !extensions.isAtEnd {
                let typeOffset = extensions.offset
                let type = try extensions.readUInt16(.extensions)
                guard extensionTypes.append(type) else {
                    throw TLSParseError(.duplicateExtension(type: type), at: typeOffset)
                }
                var data = try extensions.readVector(.extension(type: type), prefix: UInt16.self)
                switch type {
                case ExtensionType.serverName:
                    serverName = try Self.parseServerName(&data)
                case ExtensionType.alpn:
                    alpnProtocols = try Self.parseALPN(&data)
                case ExtensionType.supportedVersions:
                    supportedVersions = try Self.parseSupportedVersions(&data)
                default:
                    break
                }
            }
        }

        return ClientHello(
            legacyVersion: TLSVersion(rawValue: legacyVersion),
            cipherSuiteCount: cipherSuites.unreadBytes.readableBytes / 2,
            serverName: serverName,
            alpnProtocols: alpnProtocols,
            supportedVersions: supportedVersions,
            extensionTypes: extensionTypes.types,
            recordCount: recordCount,
            byteCount: byteCount
        )
    }

    /// `server_name` (RFC 6066 §3): a list holding exactly one entry, of type `host_name`. (The RFC allows one
    /// entry per name type, but `host_name` is the only type ever defined; BoringSSL requires exactly one.)
    private static func parseServerName(_ data: inout FieldReader) throws(TLSParseError) -> ServerName {
        var list = try data.readVector(.serverNameList, prefix: UInt16.self, allowed: 1...0xFFFF)
        try data.expectEnd(.extension(type: ExtensionType.serverName))
        let typeOffset = list.offset
        let nameType = try list.readUInt8(.serverNameList)
        guard nameType == 0 else {
            throw TLSParseError(.unsupportedServerNameType(nameType), at: typeOffset)
        }
        let name = try list.readVector(.hostName, prefix: UInt16.self)
        try list.expectEnd(.serverNameList)
        let result = name.unreadBytes.withUnsafeReadableBytes { HostNameValidator.normalize($0) }
        switch result {
        case .success(let serverName):
            return serverName
        case .failure(let failure):
            throw TLSParseError(.invalidServerName(failure.violation), at: name.offset + failure.index)
        }
    }

    /// ALPN (RFC 7301 §3.1): a non-empty list of non-empty protocol names.
    private static func parseALPN(_ data: inout FieldReader) throws(TLSParseError) -> [ALPNProtocol] {
        var list = try data.readVector(.alpnList, prefix: UInt16.self, allowed: 2...0xFFFF)
        try data.expectEnd(.extension(type: ExtensionType.alpn))
        var protocols: [ALPNProtocol] = []
        while !list.isAtEnd {
            let name = try list.readVector(.alpnProtocol, prefix: UInt8.self, allowed: 1...0xFF)
            protocols.append(ALPNProtocol(bytes: name.unreadBytes))
        }
        return protocols
    }

    /// `supported_versions` in a ClientHello (RFC 8446 §4.2.1): 1…127 two-byte versions.
    private static func parseSupportedVersions(_ data: inout FieldReader) throws(TLSParseError) -> [TLSVersion] {
        var list = try data.readVector(.supportedVersions, prefix: UInt8.self, allowed: 2...254, multipleOf: 2)
        try data.expectEnd(.extension(type: ExtensionType.supportedVersions))
        var versions: [TLSVersion] = []
        versions.reserveCapacity(list.unreadBytes.readableBytes / 2)
        while !list.isAtEnd {
            versions.append(TLSVersion(rawValue: try list.readUInt16(.supportedVersions)))
        }
        return versions
    }
}
