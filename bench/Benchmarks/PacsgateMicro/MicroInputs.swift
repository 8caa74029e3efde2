import NIOCore
import PacsgateCore
import PacsgateDICOM

/// The bytes the microbenchmarks parse, built once before measuring.
enum MicroInputs {
    /// An A-ASSOCIATE-RQ as a modality sends it: `contexts` presentation contexts of storage SOP classes, each with
    /// three transfer syntaxes (the first is Verification), plus maximum length and implementation items.
    static func associateRequest(contexts: Int) -> ByteBuffer {
        let syntaxes = [DICOMUID.explicitVRLittleEndian, DICOMUID.implicitVRLittleEndian, "1.2.840.10008.1.2.4.70"]
        let proposals = (0..<contexts).map { index in
            PresentationContextProposal(
                id: UInt8(2 * index + 1),
                abstractSyntax: index == 0 ? DICOMUID.verification : "\(DICOMUID.storageSOPClassPrefix)\(index)",
                transferSyntaxes: syntaxes)
        }
        // The titles are constant and valid; `try!` is on benchmark set-up only, never on an input path.
        let request = AssociateRequest(
            calledAETitle: try! AETitle("MACH7"),
            callingAETitle: try! AETitle("MODALITY1"),
            presentationContexts: proposals,
            userInformation: UserInformation(
                maximumLength: 16_384, implementationClassUID: "1.2.276.0.7230010.3.0.3.6.7",
                implementationVersionName: "OFFIS_DCMTK_367"))
        var buffer = ByteBuffer()
        request.encode(into: &buffer)
        return buffer
    }

    /// One MLLP frame (SB, payload, EB, CR) whose payload is an HL7 ORM message padded with OBX segments to
    /// `payloadBytes`.
    static func mllpFrame(payloadBytes: Int) -> ByteBuffer {
        var payload = Array("MSH|^~\\&|RIS|HOSP|PACS|MACH7|20250101120000||ORM^O01|MSG00001|P|2.5.1\r".utf8)
        payload += Array("PID|1||BENCH0001^^^HOSP||SYNTHETIC^PATIENT\r".utf8)
        let segment = Array("OBX|1|TX|NOTE||synthetic benchmark text, no patient data|\r".utf8)
        while payload.count + segment.count <= payloadBytes { payload += segment }
        while payload.count < payloadBytes { payload.append(UInt8(ascii: "x")) }
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(0x0B))
        buffer.writeBytes(payload)
        buffer.writeBytes([0x1C, 0x0D])
        return buffer
    }

    /// `buffer` cut into consecutive pieces of `size` bytes (the last may be shorter).
    static func split(_ buffer: ByteBuffer, every size: Int) -> [ByteBuffer] {
        var rest = buffer
        var pieces: [ByteBuffer] = []
        while rest.readableBytes > 0, let piece = rest.readSlice(length: min(size, rest.readableBytes)) {
            pieces.append(piece)
        }
        return pieces
    }

    /// A TLS 1.3 ClientHello in one record, padded (RFC 7685) to `totalBytes` including the record header.
    static func clientHello(totalBytes: Int, serverName: String?) -> ByteBuffer {
        var extensions = ByteBuffer()
        func addExtension(_ type: UInt16, _ body: (inout ByteBuffer) -> Void) {
            var data = ByteBuffer()
            body(&data)
            extensions.writeInteger(type)
            extensions.writeInteger(UInt16(data.readableBytes))
            extensions.writeImmutableBuffer(data)
        }
        if let serverName {
            let name = Array(serverName.utf8)
            addExtension(0x0000) { data in
                data.writeInteger(UInt16(name.count + 3))
                data.writeInteger(UInt8(0))
                data.writeInteger(UInt16(name.count))
                data.writeBytes(name)
            }
        }
        addExtension(0x000A) { $0.writeBytes([0x00, 0x04, 0x00, 0x1D, 0x00, 0x17]) }  // groups: x25519, P-256
        addExtension(0x000D) { $0.writeBytes([0x00, 0x04, 0x04, 0x03, 0x08, 0x04]) }  // signature algorithms
        addExtension(0x0010) { $0.writeBytes([0x00, 0x0C, 0x02] + Array("h2".utf8) + [0x08] + Array("http/1.1".utf8)) }
        addExtension(0x002B) { $0.writeBytes([0x04, 0x03, 0x04, 0x03, 0x03]) }  // supported versions: 1.3, 1.2
        addExtension(0x0033) { data in  // key share: x25519
            data.writeInteger(UInt16(36))
            data.writeInteger(UInt16(0x001D))
            data.writeInteger(UInt16(32))
            data.writeBytes([UInt8](repeating: 0x42, count: 32))
        }

        var body = ByteBuffer()
        body.writeInteger(UInt16(0x0303))
        body.writeBytes([UInt8](repeating: 0x5A, count: 32))  // random
        body.writeInteger(UInt8(32))
        body.writeBytes([UInt8](repeating: 0x33, count: 32))  // legacy session id
        let suites: [UInt16] = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030]
        body.writeInteger(UInt16(suites.count * 2))
        for suite in suites { body.writeInteger(suite) }
        body.writeBytes([0x01, 0x00])  // compression: null

        // Record header 5 + handshake header 4 + body + extensions length 2 + extensions + padding (4 + n).
        let withoutPadding = 5 + 4 + body.readableBytes + 2 + extensions.readableBytes
        let padding = max(0, totalBytes - withoutPadding - 4)
        addExtension(0x0015) { $0.writeRepeatingByte(0, count: padding) }
        body.writeInteger(UInt16(extensions.readableBytes))
        body.writeImmutableBuffer(extensions)

        var record = ByteBuffer()
        record.writeBytes([0x16, 0x03, 0x01])
        record.writeInteger(UInt16(body.readableBytes + 4))
        record.writeInteger(UInt8(1))  // ClientHello
        record.writeBytes([UInt8(body.readableBytes >> 16), UInt8((body.readableBytes >> 8) & 0xFF), UInt8(body.readableBytes & 0xFF)])
        record.writeImmutableBuffer(body)
        return record
    }

    /// The persistence key of client 10.x.y.z number `index` (built without allocating).
    static func ipv4Key(_ index: Int) -> StickKey {
        StickKey(kind: .ipv4, words: (high: 0, low: UInt64(0x0A00_0000 | (index & 0xFF_FFFF)), length: 4))
    }
}
