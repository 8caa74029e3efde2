import NIOCore
import PacsgateCore
import PacsgateHA
import Testing

/// The handshake and session sealing as pure state machines, both ends driven by the test.
@Suite("HA handshake and session crypto")
struct HandshakeTests {
    static let secret = HASecret(bytes: Array("0123456789abcdef0123456789abcdef".utf8))!
    static let other = HASecret(bytes: Array("fedcba9876543210fedcba9876543210".utf8))!

    static func nonces(_ seed: UInt8) -> () -> [UInt8] {
        { Array(repeating: seed, count: 32) }
    }

    struct Established {
        var initiatorSealer: FrameSealer
        var initiatorOpener: FrameOpener
        var responderSealer: FrameSealer
        var responderOpener: FrameOpener
        var responderFirst: HAMessage?
    }

    /// Runs a full handshake; the initiator's first sealed message is `first`.
    static func establish(first: HAMessage = .snapshotBegin(entries: 0)) throws -> Established {
        var initiator = HandshakeStateMachine(side: .initiator, secret: secret, role: .primary, node: "gw-a", software: "t", makeNonce: nonces(1))
        var responder = HandshakeStateMachine(side: .responder, secret: secret, role: .secondary, node: "gw-b", software: "t", makeNonce: nonces(2))
        let started = initiator.start()
        let hello = try #require(started)
        guard case .send(let welcome) = responder.received(hello) else { throw HATestFailure("no welcome") }
        guard case .established(let peerB, var sealerA, let openerA, nil) = initiator.received(welcome) else { throw HATestFailure("initiator not established") }
        #expect(peerB == PeerIdentity(node: "gw-b", role: .secondary, software: "t"))
        let proof = sealerA.seal(first)
        guard case .established(let peerA, let sealerB, let openerB, let firstMessage) = responder.received(proof) else {
            throw HATestFailure("responder not established")
        }
        #expect(peerA.node == "gw-a" && peerA.role == .primary)
        return Established(
            initiatorSealer: sealerA, initiatorOpener: openerA, responderSealer: sealerB, responderOpener: openerB,
            responderFirst: firstMessage)
    }

    @Test("a handshake with the shared secret establishes a session carrying messages both ways")
    func establishes() throws {
        var session = try Self.establish(first: .snapshotBegin(entries: 5))
        #expect(session.responderFirst == .snapshotBegin(entries: 5))
        let message = HAMessage.goodbye(reason: "bye")
        let opened = try session.initiatorOpener.open(session.responderSealer.seal(message))
        #expect(opened == message)
        let openedBack = try session.responderOpener.open(session.initiatorSealer.seal(.snapshotEnd(entries: 5)))
        #expect(openedBack == .snapshotEnd(entries: 5))
    }

    @Test("a hello under another secret is rejected without an answer")
    func wrongSecret() throws {
        var initiator = HandshakeStateMachine(side: .initiator, secret: Self.other, role: .primary, node: "gw-a", software: "t")
        var responder = HandshakeStateMachine(side: .responder, secret: Self.secret, role: .secondary, node: "gw-b", software: "t")
        let started = initiator.start()
        let hello = try #require(started)
        guard case .close(nil, .rejected(.authenticationFailed)) = responder.received(hello) else {
            Issue.record("forged hello not rejected")
            return
        }
    }

    @Test("a hello with one bit changed is rejected")
    func tamperedHello() throws {
        var initiator = HandshakeStateMachine(side: .initiator, secret: Self.secret, role: .primary, node: "gw-a", software: "t")
        var responder = HandshakeStateMachine(side: .responder, secret: Self.secret, role: .secondary, node: "gw-b", software: "t")
        let started = initiator.start()
        var hello = try #require(started)
        var body = Array(hello.body.readableBytesView)
        body[3] ^= 0x80
        hello.body = ByteBuffer(bytes: body)
        guard case .close(nil, .rejected) = responder.received(hello) else {
            Issue.record("tampered hello not rejected")
            return
        }
    }

    @Test("two units with the same role get an authenticated refusal the dialler can log")
    func sameRole() throws {
        var initiator = HandshakeStateMachine(side: .initiator, secret: Self.secret, role: .primary, node: "gw-a", software: "t")
        var responder = HandshakeStateMachine(side: .responder, secret: Self.secret, role: .primary, node: "gw-b", software: "t")
        let started = initiator.start()
        let hello = try #require(started)
        guard case .close(let answer?, .refusedPeer) = responder.received(hello) else {
            Issue.record("same role not refused")
            return
        }
        guard case .close(nil, .refusedByPeer(let reason)) = initiator.received(answer) else {
            Issue.record("refusal not understood")
            return
        }
        #expect(reason.contains("both units are configured as primary"))
    }

    @Test("a welcome recorded from another session is not accepted")
    func replayedWelcome() throws {
        var first = HandshakeStateMachine(side: .initiator, secret: Self.secret, role: .primary, node: "gw-a", software: "t", makeNonce: Self.nonces(1))
        var responder = HandshakeStateMachine(side: .responder, secret: Self.secret, role: .secondary, node: "gw-b", software: "t", makeNonce: Self.nonces(2))
        let firstHello = first.start()
        guard case .send(let welcome) = responder.received(try #require(firstHello)) else { throw HATestFailure("no welcome") }
        var second = HandshakeStateMachine(side: .initiator, secret: Self.secret, role: .primary, node: "gw-a", software: "t", makeNonce: Self.nonces(3))
        _ = second.start()
        guard case .close(nil, .rejected(.badField(field: "initiator_nonce", _))) = second.received(welcome) else {
            Issue.record("replayed welcome accepted")
            return
        }
    }

    @Test("a responder does not trust a replayed hello: the first sealed frame must open")
    func replayedHello() throws {
        var initiator = HandshakeStateMachine(side: .initiator, secret: Self.secret, role: .primary, node: "gw-a", software: "t")
        var responder = HandshakeStateMachine(side: .responder, secret: Self.secret, role: .secondary, node: "gw-b", software: "t")
        let started = initiator.start()
        guard case .send = responder.received(try #require(started)) else { throw HATestFailure("no welcome") }
        // An attacker without the keys sends anything sealed-looking.
        let fake = HAFrame(type: HAFrameType.status.rawValue, sequence: 0, body: ByteBuffer(bytes: Array(repeating: 0, count: 40)))
        guard case .close(nil, .rejected(.authenticationFailed)) = responder.received(fake) else {
            Issue.record("unauthenticated frame accepted")
            return
        }
    }

    @Test("sealed frames: a changed bit, a changed header, a replay or a reorder does not open")
    func sealing() throws {
        var session = try Self.establish()
        var frame = session.initiatorSealer.seal(.snapshotEnd(entries: 1))
        var flipped = frame
        var body = Array(flipped.body.readableBytesView)
        body[0] ^= 1
        flipped.body = ByteBuffer(bytes: body)
        var opener = session.responderOpener
        #expect(throws: HAWireError.authenticationFailed(type: 0x13, sequence: 1)) { try opener.open(flipped) }
        var header = frame
        header.type = HAFrameType.snapshotBegin.rawValue
        #expect(throws: HAWireError.authenticationFailed(type: 0x12, sequence: 1)) { try opener.open(header) }
        let opened = try session.responderOpener.open(frame)
        #expect(opened == .snapshotEnd(entries: 1))
        #expect(throws: HAWireError.unexpectedSequence(expected: 2, found: 1)) { try session.responderOpener.open(frame) }
        _ = session.initiatorSealer.seal(.snapshotEnd(entries: 2))
        frame = session.initiatorSealer.seal(.snapshotEnd(entries: 3))
        #expect(throws: HAWireError.unexpectedSequence(expected: 2, found: 3)) { try session.responderOpener.open(frame) }
    }

    @Test("a secret shorter than 16 bytes is refused; surrounding white space in the file is not part of it")
    func secrets() {
        #expect(HASecret(bytes: Array("short".utf8)) == nil)
        #expect(HASecret(fileText: "  0123456789abcdef\n") != nil)
        #expect(HASecret(fileText: "0123456789abcde\n") == nil)
    }
}
