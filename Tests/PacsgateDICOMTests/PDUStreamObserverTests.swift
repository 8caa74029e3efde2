import NIOCore
import PacsgateDICOM
import Testing

@Suite struct PDUStreamObserverTests {
    typealias Event = PDUStreamObserver.Event

    private func observe(
        _ chunks: [ByteBuffer],
        maxBufferedLength: Int = 65536
    ) -> (events: [Event], observer: PDUStreamObserver) {
        var observer = PDUStreamObserver(maxBufferedLength: maxBufferedLength)
        var events: [Event] = []
        for chunk in chunks {
            observer.observe(chunk) { events.append($0) }
        }
        return (events, observer)
    }

    private func request(_ fixture: String) throws -> AssociateRequest {
        var stream = try Fixture.bytes(fixture)
        return try #require(try AssociateRequest.parse(&stream, maxLength: 65536))
    }

    private func accept(_ fixture: String) throws -> AssociateAccept {
        var stream = try Fixture.bytes(fixture)
        guard case .associateAccept(let accept) = try PDU.parse(&stream, maxLength: 65536) else {
            Issue.record("no AC in \(fixture)")
            throw IncompleteInput()
        }
        return accept
    }

    private func expectedEvents(_ fixture: String) throws -> [Event] {
        switch fixture {
        case "echoscu-storescp.client":
            [.associateRequest(try self.request(fixture)), .dataTransfer(length: 74, count: 1), .releaseRequest]
        case "echoscu-storescp.server":
            [.associateAccept(try self.accept(fixture)), .dataTransfer(length: 84, count: 1), .releaseResponse]
        case "storescu-storescp.client":
            [
                .associateRequest(try self.request(fixture)), .dataTransfer(length: 134, count: 1),
                .dataTransfer(length: 444, count: 2), .releaseRequest,
            ]
        case "storescu-storescp.server":
            [.associateAccept(try self.accept(fixture)), .dataTransfer(length: 134, count: 1), .releaseResponse]
        case "findscu-wlmscpfs.client":
            [
                .associateRequest(try self.request(fixture)), .dataTransfer(length: 88, count: 1),
                .dataTransfer(length: 76, count: 2), .releaseRequest,
            ]
        case "findscu-wlmscpfs.server":
            [
                .associateAccept(try self.accept(fixture)), .dataTransfer(length: 88, count: 1),
                .dataTransfer(length: 120, count: 2), .dataTransfer(length: 88, count: 3), .releaseResponse,
            ]
        case "pynetdicom-identity-storescp.client":
            [.associateRequest(try self.request(fixture)), .dataTransfer(length: 74, count: 1), .releaseRequest]
        case "pynetdicom-identity-storescp.server":
            [.associateAccept(try self.accept(fixture)), .dataTransfer(length: 84, count: 1), .releaseResponse]
        case "echoscu-rejected-pynetdicom.client":
            [.associateRequest(try self.request(fixture))]
        case "echoscu-rejected-pynetdicom.server":
            [.associateReject(.callingAETitleNotRecognized)]
        default:
            []
        }
    }

    static let sessions = [
        "echoscu-storescp.client", "echoscu-storescp.server", "storescu-storescp.client", "storescu-storescp.server",
        "findscu-wlmscpfs.client", "findscu-wlmscpfs.server", "pynetdicom-identity-storescp.client",
        "pynetdicom-identity-storescp.server", "echoscu-rejected-pynetdicom.client",
        "echoscu-rejected-pynetdicom.server",
    ]

    @Test(arguments: sessions)
    func wholeStream(fixture: String) throws {
        let stream = try Fixture.bytes(fixture)
        let (events, observer) = self.observe([stream])
        #expect(events == (try self.expectedEvents(fixture)))
        #expect(observer.bytesObserved == stream.readableBytes)
        #expect(observer.isAtPDUBoundary)
        #expect(!observer.hasFailed)
    }

    @Test(arguments: sessions)
    func oneByteAtATime(fixture: String) throws {
        let stream = try Fixture.bytes(fixture)
        let (events, observer) = self.observe(chunks(of: stream, sizes: [1]))
        #expect(events == (try self.expectedEvents(fixture)))
        #expect(observer.isAtPDUBoundary)
    }

    @Test(arguments: [[2], [5, 7], [6], [13, 1, 64], [1000, 3]])
    func arbitraryChunking(sizes: [Int]) throws {
        for fixture in Self.sessions {
            let (events, _) = self.observe(chunks(of: try Fixture.bytes(fixture), sizes: sizes))
            #expect(events == (try self.expectedEvents(fixture)), "\(fixture) in chunks of \(sizes)")
        }
    }

    @Test func acceptedContextCountFromTheEvent() throws {
        let (events, _) = self.observe([try Fixture.bytes("pynetdicom-identity-storescp.server")])
        guard case .associateAccept(let accept) = events.first else {
            Issue.record("no AC event")
            return
        }
        #expect(accept.acceptedContextCount == 21)
    }

    @Test func largeDataTransferIsCountedNotBuffered() {
        var observer = PDUStreamObserver(maxBufferedLength: 1024)
        var events: [Event] = []
        let length: UInt32 = 20 * 1024 * 1024
        observer.observe(ByteBuffer.encoding { PDUHeader(type: .dataTransfer, length: length).encode(into: &$0) }) {
            events.append($0)
        }
        #expect(events == [.dataTransfer(length: length, count: 1)])
        let body = ByteBuffer(repeating: 0xAB, count: 64 * 1024)
        for _ in 0..<(Int(length) / body.readableBytes) {
            observer.observe(body) { events.append($0) }
            #expect(events.count == 1)
        }
        #expect(observer.bytesObserved == 6 + Int(length))
        #expect(observer.isAtPDUBoundary)
        observer.observe(ByteBuffer(hex: "05 00 00000004 00000000")) { events.append($0) }
        #expect(events == [.dataTransfer(length: length, count: 1), .releaseRequest])
        #expect(observer.dataTransferCount == 1)
        #expect(observer.isAtPDUBoundary)
    }

    @Test func abortAndRelease() {
        let stream = ByteBuffer(hex: "06 00 00000004 00000000  07 00 00000004 00 00 02 06")
        #expect(
            self.observe(chunks(of: stream, sizes: [3])).events == [
                .releaseResponse, .abort(AssociationAbort(source: .serviceProvider, reason: .invalidPDUParameterValue)),
            ]
        )
    }

    /// The forwarded request, already parsed by the peek, is passed over: not reported, not buffered, and the
    /// rest of the stream (offsets included) observed as before, however the stream is cut.
    @Test(arguments: [[100_000], [1], [3], [13, 1, 64]])
    func passedRequestIsNotParsedAgain(sizes: [Int]) throws {
        let stream = try Fixture.bytes("findscu-wlmscpfs.client")
        var input = stream
        _ = try #require(try AssociateRequest.parse(&input, maxLength: 65536))
        let requestLength = stream.readableBytes - input.readableBytes
        var observer = PDUStreamObserver()
        observer.passParsedPDU(totalLength: requestLength)
        var events: [Event] = []
        for chunk in chunks(of: stream, sizes: sizes) {
            observer.observe(chunk) { events.append($0) }
        }
        #expect(events == Array((try self.expectedEvents("findscu-wlmscpfs.client")).dropFirst()))
        #expect(observer.bytesObserved == stream.readableBytes)
        #expect(observer.isAtPDUBoundary)
    }

    @Test func passingOnlyAtABoundary() {
        var observer = PDUStreamObserver()
        var events: [Event] = []
        observer.observe(ByteBuffer(hex: "05 00 0000")) { events.append($0) }
        observer.passParsedPDU(totalLength: 10)  // mid-header: ignored, the PDU is observed as usual
        observer.observe(ByteBuffer(hex: "0004 00000000")) { events.append($0) }
        #expect(events == [.releaseRequest])
    }

    @Test func partialPDUIsNotABoundary() {
        let (events, observer) = self.observe([ByteBuffer(hex: "05 00 00000004 0000")])
        #expect(events.isEmpty)
        #expect(!observer.isAtPDUBoundary)
    }

    // MARK: Bad input

    @Test func garbageIsReportedOnceThenIgnored() {
        var observer = PDUStreamObserver()
        var events: [Event] = []
        observer.observe(ByteBuffer(string: "G")) { events.append($0) }
        observer.observe(ByteBuffer(string: "ET / HTTP/1.1\r\n")) { events.append($0) }
        observer.observe(ByteBuffer(hex: "05 00 00000004 00000000")) { events.append($0) }
        #expect(events == [.protocolError(.unrecognizedPDUType(0x47, offset: 0), streamOffset: 0)])
        #expect(observer.hasFailed)
        #expect(observer.bytesObserved == 1 + 15 + 10)
    }

    @Test func errorOffsetIsThePDUStart() {
        let stream = ByteBuffer(hex: "05 00 00000004 00000000  04 00 00000006 00000002 01 03  09")
        for sizes in [[30], [1], [4]] {
            #expect(
                self.observe(chunks(of: stream, sizes: sizes)).events == [
                    .releaseRequest, .dataTransfer(length: 6, count: 1),
                    .protocolError(.unrecognizedPDUType(0x09, offset: 0), streamOffset: 22),
                ]
            )
        }
    }

    @Test func oversizedAcceptFailsFromItsHeader() {
        let events = self.observe([ByteBuffer(hex: "02 00 00010000")], maxBufferedLength: 4096).events
        #expect(
            events == [
                .protocolError(.pduTooLarge(.associateAccept, length: 65536, limit: 4096, offset: 2), streamOffset: 0)
            ]
        )
    }

    @Test func wrongFixedLengths() {
        #expect(
            self.observe([ByteBuffer(hex: "03 00 00000005")]).events == [
                .protocolError(.invalidPDULength(.associateReject, length: 5, offset: 2), streamOffset: 0)
            ]
        )
        #expect(
            self.observe([ByteBuffer(hex: "04 00 00000002")]).events == [
                .protocolError(.invalidPDULength(.dataTransfer, length: 2, offset: 2), streamOffset: 0)
            ]
        )
    }

    @Test func malformedAcceptBody() throws {
        let accept = try Fixture.pdu("echoscu-storescp.server").patching(UInt16(500), at: 76)
        var stream = ByteBuffer(hex: "04 00 00000006 00000002 01 03")
        stream.writeImmutableBuffer(accept)
        let (events, observer) = self.observe(chunks(of: stream, sizes: [7]))
        #expect(
            events == [
                .dataTransfer(length: 6, count: 1),
                .protocolError(
                    .itemOverrunsParent(itemType: 0x10, offset: 74, end: 578, parentEnd: 190),
                    streamOffset: 12
                ),
            ]
        )
        #expect(observer.hasFailed)
    }
}
