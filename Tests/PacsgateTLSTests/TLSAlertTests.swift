import NIOCore
import PacsgateTLS
import Testing

@Suite("TLSAlert")
struct TLSAlertTests {
    @Test(
        "fatal alert records are 15 03 03 00 02 02 <description>",
        arguments: [
            (TLSAlert.handshakeFailure, UInt8(40)),
            (.unrecognizedName, 112),
            (.protocolVersion, 70),
            (.internalError, 80),
            (.decodeError, 50),
            (.unexpectedMessage, 10),
            (.recordOverflow, 22),
            (.illegalParameter, 47),
        ]
    )
    func encoding(alert: TLSAlert, code: UInt8) {
        #expect(alert.rawValue == code)
        var buffer = ByteBuffer(bytes: [0xAA])
        let written = alert.writeFatalRecord(to: &buffer)
        #expect(written == TLSAlert.recordLength)
        #expect(Array(buffer.readableBytesView) == [0xAA, 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, code])

        let record = alert.fatalRecord(allocator: ByteBufferAllocator())
        #expect(Array(record.readableBytesView) == [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, code])
    }

    @Test("the record is what the client side of a TLS stack reads as an alert")
    func structure() {
        let record = TLSAlert.unrecognizedName.fatalRecord(allocator: ByteBufferAllocator())
        #expect(record.getInteger(at: 0, as: UInt8.self) == 21)  // ContentType alert
        #expect(record.getInteger(at: 3, as: UInt16.self) == UInt16(record.readableBytes - 5))
    }

    @Test("descriptions use the RFC names")
    func descriptions() {
        #expect(TLSAlert.unrecognizedName.description == "unrecognized_name(112)")
        #expect(TLSAlert.handshakeFailure.description == "handshake_failure(40)")
        #expect(TLSAlert(rawValue: 90).description == "alert(90)")
    }
}

@Suite("TLSParseError")
struct TLSParseErrorTests {
    @Test(
        "suggested alerts: none for non-TLS peers, a TLS alert otherwise",
        arguments: [
            (TLSParseError(.notHandshakeRecord(contentType: 0x47), at: 0), nil),
            (TLSParseError(.sslv2Hello, at: 0), nil),
            (TLSParseError(.notHandshakeRecord(contentType: 0x15), at: 105), TLSAlert.unexpectedMessage),
            (TLSParseError(.unsupportedRecordVersion(0x4745), at: 1), .protocolVersion),
            (TLSParseError(.emptyHandshakeFragment, at: 3), .decodeError),
            (TLSParseError(.dataAfterClientHello, at: 300), .decodeError),
            (TLSParseError(.lengthOverrun(.hostName), at: 59), .decodeError),
            (TLSParseError(.trailingBytes(.serverNameList), at: 62), .decodeError),
            (TLSParseError(.invalidLength(.cipherSuites, length: 3), at: 44), .decodeError),
            (TLSParseError(.invalidServerName(.ipLiteral), at: 61), .unrecognizedName),
        ]
    )
    func alerts(error: TLSParseError, alert: TLSAlert?) {
        #expect(error.alert == alert)
    }

    @Test("descriptions carry the reason and offset, not peer data")
    func descriptions() {
        #expect(
            TLSParseError(.notHandshakeRecord(contentType: 71), at: 0).description
                == "record content type 71 is not handshake (22) at byte 0"
        )
        #expect(
            TLSParseError(.invalidServerName(.invalidByte(0)), at: 65).description
                == "invalid server name: invalid byte 0x00 in host name at byte 65"
        )
        #expect(
            TLSParseError(.lengthOverrun(.extension(type: 51)), at: 296).description
                == "extension(type: 51) overruns its parent at byte 296"
        )
        #expect(
            TLSParseError(.clientHelloTooLarge(limit: 16384), at: 6).description
                == "ClientHello exceeds 16384 bytes at byte 6"
        )
    }
}
