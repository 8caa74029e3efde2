import PacsgateCore
import PacsgateTestSupport
import Testing

@testable import PacsgateTLS

/// The client's handshake on a terminating dicom/hl7 service, without sockets.
@Suite("Client handshake state machine")
struct ClientHandshakeStateMachineTests {
    static let certificate = PeerCertificate.sample("ct1.hospital.example")

    @Test("established: the facts (version, cipher, verified certificate) go to the inner inspector once; no record of its own")
    func established() {
        var machine = ClientHandshakeStateMachine()
        machine.clientSpoke()
        machine.cipherChosen("TLS_AES_256_GCM_SHA384")
        machine.certificateVerified(.trusted(Self.certificate))
        let facts = machine.handshakeCompleted(version: "TLS1.3")
        #expect(facts == SecureTransportFacts(version: "TLS1.3", cipher: "TLS_AES_256_GCM_SHA384", clientCertificate: Self.certificate))
        #expect(machine.handshakeCompleted(version: "TLS1.3") == nil)
        #expect(machine.facts == facts)
        #expect(machine.failureRecord == nil)
        #expect(machine.peekFailed(.timeout) == .delegate)
        machine.handshakeFailed("late error")
        #expect(machine.failureRecord == nil)
    }

    @Test("a refused certificate: the verifier's reason wins over the TLS library's, and the certificate is kept")
    func refusedCertificate() {
        var machine = ClientHandshakeStateMachine()
        machine.clientSpoke()
        machine.certificateVerified(.refused("certificate expired on 2020-01-02", Self.certificate))
        machine.handshakeFailed("TLS handshake failed: certificate verify failed")
        #expect(machine.failureRecord?.outcome == .handshakeFailed)
        #expect(machine.failureRecord?.reason == "certificate expired on 2020-01-02")
        #expect(machine.presentedCertificate == Self.certificate)
        #expect(machine.peekFailed(.clientClosed) == .close(reason: "certificate expired on 2020-01-02"))
        #expect(machine.handshakeCompleted(version: "TLS1.3") == nil)
    }

    @Test("BoringSSL's words for a missing certificate and an old TLS version are reworded")
    func rewording() {
        var missing = ClientHandshakeStateMachine()
        missing.clientSpoke()
        missing.handshakeFailed("TLS handshake failed: peer did not return a certificate")
        #expect(missing.failureRecord?.reason == "no client certificate (client_auth: required)")
        var old = ClientHandshakeStateMachine()
        old.clientSpoke()
        old.handshakeFailed("TLS handshake failed: unsupported protocol")
        #expect(
            old.failureRecord?.reason == "TLS version refused: the client offered neither TLS 1.2 nor TLS 1.3 (unsupported protocol)"
        )
        var other = ClientHandshakeStateMachine()
        other.clientSpoke()
        other.handshakeFailed("TLS handshake failed: wrong version number")
        #expect(other.failureRecord?.reason == "TLS handshake failed: wrong version number")
    }

    @Test("a client that never spoke leaves no record; one that stalled mid-handshake does")
    func silentAndStalled() {
        var silent = ClientHandshakeStateMachine()
        #expect(silent.peekFailed(.clientClosed) == .close(reason: "client closed the connection during the TLS handshake"))
        #expect(silent.failureRecord == nil)

        var stalled = ClientHandshakeStateMachine()
        stalled.clientSpoke()
        #expect(stalled.failureRecord?.outcome == .incomplete)
        #expect(stalled.peekFailed(.timeout) == .close(reason: "TLS handshake not finished within the peek timeout"))
        #expect(stalled.failureRecord?.outcome == .handshakeFailed)
        #expect(stalled.failureRecord?.reason == "TLS handshake not finished within the peek timeout")
    }

    @Test("refused at maxconn before the handshake: recorded as unavailable, no session ever handed on")
    func refusedAtMaxconn() {
        var machine = ClientHandshakeStateMachine()
        machine.refusedBeforeHandshake("refused before the TLS handshake: service at maxconn")
        #expect(machine.failureRecord?.outcome == .unavailable)
        #expect(machine.failureRecord?.reason == "refused before the TLS handshake: service at maxconn")
        #expect(machine.handshakeCompleted(version: "TLS1.3") == nil)
        #expect(machine.peekFailed(.clientClosed) == .close(reason: "refused before the TLS handshake: service at maxconn"))
    }
}
