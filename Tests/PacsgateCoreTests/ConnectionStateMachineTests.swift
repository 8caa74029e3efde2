import NIOCore
import Testing

@testable import PacsgateCore

@Suite struct ConnectionStateMachineTests {
    private func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    /// The text of an `.inspect` action, or nil for any other action.
    private func inspected(_ action: ConnectionStateMachine.ClientReadAction) -> String? {
        guard case .inspect(let buffer) = action else { return nil }
        return String(buffer: buffer)
    }

    private func isHeld(_ action: ConnectionStateMachine.ClientReadAction) -> Bool {
        if case .held = action { return true }
        return false
    }

    private func isForward(_ action: ConnectionStateMachine.ClientReadAction) -> Bool {
        if case .forward = action { return true }
        return false
    }

    private func isDiscard(_ action: ConnectionStateMachine.ClientReadAction) -> Bool {
        if case .discard = action { return true }
        return false
    }

    /// `startForwarding`'s pending bytes as text ("" for none) and its client-FIN flag, or nil for `closeServer`.
    private func started(
        _ action: ConnectionStateMachine.ConnectedAction
    ) -> (pending: String?, clientInputClosed: Bool)? {
        guard case .startForwarding(let pending, let clientInputClosed) = action else { return nil }
        return (pending.map { String(buffer: $0) }, clientInputClosed)
    }

    private func isCloseServer(_ action: ConnectionStateMachine.ConnectedAction) -> Bool {
        if case .closeServer = action { return true }
        return false
    }

    private func isEnding(_ machine: ConnectionStateMachine) -> Bool {
        if case .ending = machine.state { return true }
        return false
    }

    private func isAnswering(_ machine: ConnectionStateMachine) -> Bool {
        if case .answering = machine.state { return true }
        return false
    }

    private func isEnded(_ machine: ConnectionStateMachine) -> Bool {
        if case .ended = machine.state { return true }
        return false
    }

    private func forwarding(_ machine: ConnectionStateMachine) -> (client: Bool, server: Bool)? {
        guard case .forwarding(let client, let server) = machine.state else { return nil }
        return (client, server)
    }

    private func peeking() -> ConnectionStateMachine {
        var machine = ConnectionStateMachine()
        _ = machine.clientActive(peek: true)
        return machine
    }

    private func forwardingMachine() -> ConnectionStateMachine {
        var machine = ConnectionStateMachine()
        _ = machine.clientActive(peek: false)
        _ = machine.connected()
        return machine
    }

    // MARK: start

    @Test func activeWithInspectorStartsThePeek() {
        var machine = ConnectionStateMachine()
        #expect(machine.clientActive(peek: true) == .startPeek)
        #expect(machine.isPeeking)
        #expect(!machine.isConnecting)
        #expect(!machine.isForwarding)
    }

    @Test func activeWithoutInspectorConnects() {
        var machine = ConnectionStateMachine()
        #expect(machine.clientActive(peek: false) == .connect)
        #expect(machine.isConnecting)
        #expect(!machine.isPeeking)
    }

    // MARK: peek → forward → connect

    /// An inspector that answers every peek with `verdict` and records what it was asked.
    private final class ScriptedInspector: ConnectionInspector {
        var verdict: InspectionVerdict
        var inspected: [Int] = []
        var failures: [PeekFailure] = []

        init(_ verdict: InspectionVerdict) { self.verdict = verdict }

        func inspect(_ buffered: ByteBuffer) -> InspectionVerdict {
            self.inspected.append(buffered.readableBytes)
            return self.verdict
        }
        func peekFailed(_ failure: PeekFailure) -> Rejection {
            self.failures.append(failure)
            return Rejection(reason: "peek failed: \(failure)")
        }
        func unavailable(_ reason: UnavailableReason) -> Rejection { Rejection(reason: "\(reason)") }
    }

    @Test func peekedBytesGetTheInspectorsVerdict() throws {
        var machine = peeking()
        let waiting = ScriptedInspector(.needMore)
        guard case .inspect(let first) = machine.clientRead(bytes("AB")) else { Issue.record("not inspected"); return }
        guard case .wait = machine.peeked(first, by: waiting) else { Issue.record("needMore must wait"); return }
        #expect(machine.isPeeking)

        let forwarding = ScriptedInspector(.forward(Routing(note: "route B")))
        guard case .connect(let routing) = machine.peeked(first, by: forwarding) else {
            Issue.record("forward must connect")
            return
        }
        #expect(routing.note == "route B")
        #expect(machine.isConnecting, "the peeked bytes are now pending for the connect")
        #expect(started(machine.connected())?.pending == "AB")

        // Once the peek is over, nothing more is asked.
        guard case .wait = machine.peeked(first, by: waiting) else { Issue.record("not peeking: wait"); return }
        #expect(waiting.inspected == [2])

        var rejecting = peeking()
        let rejector = ScriptedInspector(.reject(Rejection(reason: "AE not allowed")))
        guard case .answer(let rejection) = rejecting.peeked(bytes("CD"), by: rejector) else {
            Issue.record("reject must answer")
            return
        }
        #expect(rejection.reason == "AE not allowed")
    }

    @Test func aPeekPastTheHardCapIsAPeekFailureTheInspectorAnswers() throws {
        var machine = peeking()
        let inspector = ScriptedInspector(.needMore)
        let huge = ByteBuffer(repeating: 0x41, count: ConnectionStateMachine.peekHardCap + 1)
        guard case .answer(let rejection) = machine.peeked(huge, by: inspector) else {
            Issue.record("past the hard cap the client must be answered")
            return
        }
        #expect(inspector.inspected.isEmpty, "the inspector is not asked to parse past the hard cap")
        #expect(inspector.failures == [.tooLarge(ConnectionStateMachine.peekHardCap + 1)])
        #expect(rejection.reason.hasPrefix("peek failed"))
        let atCap = ByteBuffer(repeating: 0x41, count: ConnectionStateMachine.peekHardCap)
        guard case .wait = machine.peeked(atCap, by: inspector) else { Issue.record("at the cap: asked"); return }
        #expect(inspector.inspected == [ConnectionStateMachine.peekHardCap])
    }

    @Test func peekedAndLaterBytesAllReachTheServerInOrder() throws {
        var machine = peeking()
        let first = machine.clientRead(bytes("AB"))
        #expect(inspected(first) == "AB")
        #expect(inspected(machine.clientRead(bytes("CD"))) == "ABCD")
        // The buffer handed to the inspector is a value: later reads do not change it.
        #expect(inspected(first) == "AB")
        var offset = bytes("xxEF")
        offset.moveReaderIndex(forwardBy: 2)
        #expect(inspected(machine.clientRead(offset)) == "ABCDEF", "only the readable bytes are kept")

        machine.forwardDecided()
        #expect(machine.isConnecting)
        #expect(isHeld(machine.clientRead(bytes("GH"))))
        #expect(isHeld(machine.clientRead(bytes("IJ"))))
        #expect(isHeld(machine.clientRead(ByteBuffer())))

        let start = try #require(started(machine.connected()))
        #expect(start.pending == "ABCDEFGHIJ")
        #expect(start.clientInputClosed == false)
        #expect(machine.isForwarding)
        #expect(forwarding(machine)! == (false, false))
        #expect(isForward(machine.clientRead(bytes("KL"))))
    }

    @Test func bytesArrivingWhileConnectingWithoutPeekAreHeld() throws {
        var machine = ConnectionStateMachine()
        _ = machine.clientActive(peek: false)
        #expect(isHeld(machine.clientRead(bytes("A-ASSOCIATE-RQ "))))
        #expect(isHeld(machine.clientRead(bytes("P-DATA"))))
        let start = try #require(started(machine.connected()))
        #expect(start.pending == "A-ASSOCIATE-RQ P-DATA")
    }

    @Test func nothingPendingWhenTheClientSentNothing() throws {
        var machine = ConnectionStateMachine()
        _ = machine.clientActive(peek: false)
        let start = try #require(started(machine.connected()))
        #expect(start.pending == nil)
        #expect(start.clientInputClosed == false)
    }

    @Test func largeInputAccumulatesWithoutLoss() throws {
        var machine = peeking()
        var expected = ""
        for index in 0..<200 {
            let chunk = String(repeating: Character(Unicode.Scalar(UInt8(65 + index % 26))), count: 1 + index % 7)
            expected += chunk
            #expect(inspected(machine.clientRead(bytes(chunk)))?.count == expected.count)
        }
        machine.forwardDecided()
        for index in 0..<50 {
            let chunk = "\(index),"
            expected += chunk
            _ = machine.clientRead(bytes(chunk))
        }
        #expect(try #require(started(machine.connected())).pending == expected)
    }

    @Test func forwardDecidedOutsideThePeekChangesNothing() {
        var machine = forwardingMachine()
        machine.forwardDecided()
        #expect(machine.isForwarding)
        var ended = ConnectionStateMachine()
        ended.forwardDecided()
        #expect(!ended.isConnecting)
    }

    // MARK: client FIN while connecting

    @Test func clientFINDuringConnectIsCarriedIntoForwarding() throws {
        var machine = peeking()
        _ = machine.clientRead(bytes("HELLO"))
        machine.forwardDecided()
        #expect(machine.clientInputClosed() == .none)
        #expect(machine.isConnecting)
        let start = try #require(started(machine.connected()))
        #expect(start.pending == "HELLO")
        #expect(start.clientInputClosed == true)
        #expect(forwarding(machine)! == (true, false))
        // The server finishing its answer ends the connection.
        #expect(machine.serverInputClosed() == .closeBoth)
        #expect(isEnding(machine))
    }

    // MARK: forwarding half-closes

    @Test func clientThenServerFIN() {
        var machine = forwardingMachine()
        #expect(machine.clientInputClosed() == .shutdownOtherOutput)
        #expect(forwarding(machine)! == (true, false))
        #expect(isForward(machine.clientRead(bytes("late"))))
        #expect(machine.serverInputClosed() == .closeBoth)
        #expect(isEnding(machine))
    }

    @Test func serverThenClientFIN() {
        var machine = forwardingMachine()
        #expect(machine.serverInputClosed() == .shutdownOtherOutput)
        #expect(forwarding(machine)! == (false, true))
        #expect(isForward(machine.clientRead(bytes("more"))), "the client may keep sending after the server's FIN")
        #expect(machine.clientInputClosed() == .closeBoth)
        #expect(isEnding(machine))
    }

    @Test func finsAfterTheEndAreIgnored() {
        var machine = forwardingMachine()
        _ = machine.clientInputClosed()
        _ = machine.serverInputClosed()
        #expect(machine.clientInputClosed() == .none)
        #expect(machine.serverInputClosed() == .none)
        #expect(isDiscard(machine.clientRead(bytes("x"))))
        #expect(isEnding(machine))
    }

    @Test func serverFINOutsideForwardingIsIgnored() {
        var idle = ConnectionStateMachine()
        #expect(idle.serverInputClosed() == .none)
        var peek = peeking()
        #expect(peek.serverInputClosed() == .none)
        #expect(peek.isPeeking)
        var connecting = ConnectionStateMachine()
        _ = connecting.clientActive(peek: false)
        #expect(connecting.serverInputClosed() == .none)
        #expect(connecting.isConnecting)
    }

    // MARK: peek failures and answering

    @Test func clientFINDuringThePeekFailsThePeek() {
        var machine = peeking()
        _ = machine.clientRead(bytes("partial"))
        #expect(machine.clientInputClosed() == .peekFailed)
        #expect(machine.isPeeking)
    }

    @Test func answeringThenClientFINClosesTheClient() {
        var machine = peeking()
        _ = machine.clientRead(bytes("A-ASSOCIATE-RQ"))
        machine.answering()
        #expect(isAnswering(machine))
        #expect(isDiscard(machine.clientRead(bytes("more"))))
        #expect(machine.serverInputClosed() == .none)
        #expect(isCloseServer(machine.connected()), "no server leg may start after the answer")
        #expect(machine.clientInputClosed() == .closeClient)
        #expect(isEnding(machine))
        #expect(machine.clientInputClosed() == .none)
    }

    @Test func answeringFromConnectingAndIdle() {
        // No server could be reached: the gateway answers.
        var connecting = ConnectionStateMachine()
        _ = connecting.clientActive(peek: false)
        connecting.answering()
        #expect(isAnswering(connecting))
        var idle = ConnectionStateMachine()
        idle.answering()
        #expect(isAnswering(idle))
    }

    @Test func answeringAfterTheEndChangesNothing() {
        var ending = forwardingMachine()
        _ = ending.legFailed()
        ending.answering()
        #expect(isEnding(ending))
        var ended = forwardingMachine()
        _ = ended.ended()
        ended.answering()
        #expect(isEnded(ended))
    }

    // MARK: leg failures

    @Test func legFailedWhileForwardingTerminates() {
        var machine = forwardingMachine()
        #expect(machine.legFailed() == .terminate(client: true, server: true))
        #expect(isEnding(machine))
        #expect(machine.legFailed() == .none)
    }

    @Test func legFailedWhileHalfClosedTerminates() {
        var machine = forwardingMachine()
        _ = machine.clientInputClosed()
        #expect(machine.legFailed() == .terminate(client: true, server: true))
        #expect(isEnding(machine))
    }

    @Test func legFailedWhileConnectingTerminates() {
        var machine = peeking()
        _ = machine.clientRead(bytes("x"))
        machine.forwardDecided()
        #expect(machine.legFailed() == .terminate(client: true, server: false), "no server leg is open yet")
        #expect(isEnding(machine))
        #expect(isCloseServer(machine.connected()), "a connect that completes late is closed")
    }

    @Test func legFailedWhilePeekingClosesTheClient() {
        var machine = peeking()
        #expect(machine.legFailed() == .closeClient)
        #expect(isEnding(machine))
    }

    @Test func legFailedWhileAnsweringClosesTheClient() {
        var machine = peeking()
        machine.answering()
        #expect(machine.legFailed() == .closeClient)
        #expect(isEnding(machine))
    }

    @Test func legFailedWhileIdleClosesTheClient() {
        var machine = ConnectionStateMachine()
        #expect(machine.legFailed() == .closeClient)
        #expect(isEnding(machine))
    }

    @Test func legFailedAfterTheEndDoesNothing() {
        var machine = forwardingMachine()
        _ = machine.ended()
        #expect(machine.legFailed() == .none)
        #expect(isEnded(machine))
    }

    // MARK: ended

    @Test func endedOnlyOnce() {
        var machine = forwardingMachine()
        _ = machine.clientInputClosed()
        _ = machine.serverInputClosed()
        #expect(machine.ended() == true)
        #expect(isEnded(machine))
        #expect(machine.ended() == false)
        #expect(machine.ended() == false)
        #expect(isDiscard(machine.clientRead(bytes("x"))))
        #expect(machine.clientInputClosed() == .none)
        #expect(isCloseServer(machine.connected()))
    }

    @Test func endedFromAnyState() {
        var idle = ConnectionStateMachine()
        #expect(idle.ended() == true)
        var peek = peeking()
        #expect(peek.ended() == true)
        #expect(!peek.isPeeking)
        var forwarding = forwardingMachine()
        #expect(forwarding.ended() == true)
        #expect(!forwarding.isForwarding)
    }

    // MARK: legs closing

    @Test func bothFINsThenBothLegsClosedFinishOnce() {
        var machine = forwardingMachine()
        #expect(machine.endReason == .closed)
        _ = machine.clientInputClosed()
        #expect(machine.serverInputClosed() == .closeBoth)
        #expect(machine.endReason == .closedByBothSides)
        #expect(machine.isClientOpen)
        #expect(machine.legClosed(.server) == .none, "the client leg is still open")
        #expect(machine.isClientOpen)
        #expect(machine.legClosed(.client) == .finish)
        #expect(!machine.isClientOpen)
        #expect(isEnded(machine))
        #expect(machine.legClosed(.client) == .none)
        #expect(machine.legClosed(.server) == .none)
        #expect(machine.endReason == .closedByBothSides)
        #expect(!machine.refused)
    }

    @Test func clientGoingAwayWhileForwardingEndsTheServerLeg() {
        var machine = forwardingMachine()
        #expect(machine.legClosed(.client) == .abort(.terminate(client: false, server: true)))
        #expect(machine.endReason == .wentAway(.client))
        #expect(!machine.isClientOpen, "bytes from the server have nowhere to go")
        #expect(machine.legFailed(.client, error: "late") == .none, "already ending")
        #expect(machine.legClosed(.server) == .finish)
    }

    @Test func serverGoingAwayWhileForwardingEndsTheClientLeg() {
        var machine = forwardingMachine()
        #expect(machine.legClosed(.server) == .abort(.terminate(client: true, server: false)))
        #expect(machine.endReason == .wentAway(.server))
        #expect(machine.isClientOpen)
        #expect(machine.legClosed(.client) == .finish)
    }

    /// NIO reports a FIN as a full close when the channel's output is already shut.
    @Test func aLegClosingAfterTheOthersFINIsACleanEnd() {
        var clientFirst = forwardingMachine()
        _ = clientFirst.clientInputClosed()
        #expect(clientFirst.legClosed(.server) == .closeOtherAfterFlush)
        #expect(clientFirst.endReason == .closedByBothSides)
        #expect(clientFirst.legClosed(.client) == .finish)

        var serverFirst = forwardingMachine()
        _ = serverFirst.serverInputClosed()
        #expect(serverFirst.legClosed(.client) == .closeOtherAfterFlush)
        #expect(serverFirst.endReason == .closedByBothSides)
        #expect(serverFirst.legClosed(.server) == .finish)
    }

    @Test func clientClosingBeforeAnyServerLegFinishesAtOnce() {
        var peek = peeking()
        #expect(peek.legClosed(.client) == .finish)
        var connecting = ConnectionStateMachine()
        _ = connecting.clientActive(peek: false)
        #expect(connecting.legClosed(.client) == .finish)
        #expect(isCloseServer(connecting.connected()), "a connect that completes after the end is closed")
        #expect(connecting.legClosed(.server) == .none)
        var answering = peeking()
        answering.refuse(.rejected("calling AE not allowed"))
        #expect(answering.legClosed(.client) == .finish)
        #expect(answering.endReason == .rejected("calling AE not allowed"))
        #expect(answering.refused)
        #expect(connecting.endReason == .closed)
    }

    @Test func aServerLegConnectingAfterTheEndBeganIsWaitedFor() {
        var machine = ConnectionStateMachine()
        _ = machine.clientActive(peek: false)
        let action = machine.legFailed(.client, error: "Connection reset by peer")
        #expect(action == .terminate(client: true, server: false))
        #expect(isCloseServer(machine.connected()))
        #expect(machine.legClosed(.client) == .none, "the server leg just connected is still open")
        #expect(machine.legClosed(.server) == .finish)
    }

    /// A server leg whose preparation (a TLS handshake) fails closes before ``ConnectionStateMachine/connected()``.
    @Test func aServerLegClosingWhileConnectingEndsTheConnection() {
        var machine = ConnectionStateMachine()
        _ = machine.clientActive(peek: false)
        #expect(machine.legClosed(.server) == .abort(.terminate(client: true, server: false)))
        #expect(machine.endReason == .wentAway(.server))
        #expect(machine.legClosed(.client) == .finish)
    }

    // MARK: end reasons

    @Test func failuresRecordTheirSideAndTheLatestErrorStands() {
        var machine = forwardingMachine()
        let first = machine.legFailed(.server, error: "Connection reset by peer")
        #expect(first == .terminate(client: true, server: true))
        #expect(machine.endReason == .failed(.server, "Connection reset by peer"))
        #expect(machine.legFailed(.client, error: "Broken pipe") == .none)
        #expect(machine.endReason.description == "client error: Broken pipe")
    }

    @Test func theInspectorEndingOnAFINNamesTheSide() {
        var machine = forwardingMachine()
        #expect(machine.serverInputClosed() == .shutdownOtherOutput)
        #expect(machine.halfCloseEnds(by: .server) == .terminate(client: true, server: true))
        #expect(machine.endReason.description == "server closed its side")
    }

    @Test func terminateWhilePeekingFailsThePeekAndTheAnswerNamesTheEnd() {
        var machine = peeking()
        #expect(machine.terminate(.shutdown) == .failPeek)
        #expect(machine.isPeeking)
        #expect(machine.endReason == .terminated(.shutdown))
        machine.refuse(.rejected("no A-ASSOCIATE-RQ within the peek timeout"))
        #expect(isAnswering(machine))
        #expect(machine.refused)
        #expect(machine.endReason.description == "no A-ASSOCIATE-RQ within the peek timeout")
    }

    @Test func terminateWhileForwardingOrAnswering() {
        var forwarding = forwardingMachine()
        let action = forwarding.terminate(.inspectorRequested("A-ABORT from the SCU"))
        #expect(action == .abort(.terminate(client: true, server: true)))
        #expect(forwarding.endReason.description == "A-ABORT from the SCU")
        var answering = peeking()
        answering.refuse(.unavailable(.noServer))
        #expect(answering.terminate(.shutdown) == .abort(.closeClient))
        #expect(answering.refused, "a refused connection stays refused whatever ends it")
        #expect(answering.endReason.description == "gateway shutdown")
    }

    @Test func idleTimer() {
        var peek = peeking()
        #expect(peek.idleTimerFired(expired: true) == .stop)
        var machine = forwardingMachine()
        #expect(machine.idleTimerFired(expired: false) == .rearm)
        #expect(machine.endReason == .closed)
        #expect(machine.idleTimerFired(expired: true) == .abort(.terminate(client: true, server: true)))
        #expect(machine.endReason.description == "idle timeout")
        #expect(machine.idleTimerFired(expired: false) == .rearm, "ending: the last bytes may still go out")
        #expect(machine.idleTimerFired(expired: true) == .closeBoth)
        #expect(machine.endReason.description == "idle timeout; last bytes not read within the idle timeout")
        _ = machine.legClosed(.client)
        _ = machine.legClosed(.server)
        #expect(machine.idleTimerFired(expired: true) == .stop)
    }

    @Test func refusalsAreRecorded() {
        var idle = ConnectionStateMachine()
        idle.refuse(.unavailable(.maxConnections))
        #expect(isAnswering(idle))
        #expect(idle.refused)
        #expect(idle.endReason.description == "refused: \(UnavailableReason.maxConnections)")
        var setup = ConnectionStateMachine()
        setup.refuse(.setupFailed("no TLS context"))
        #expect(setup.endReason.description == "cannot set up the protocol handlers: no TLS context")
        #expect(setup.legClosed(.client) == .finish)
    }

    /// The words the connection log line and the audit records carry.
    @Test func endReasonWords() {
        let words: [(ConnectionEndReason, String)] = [
            (.closed, "closed"),
            (.closedByBothSides, "closed by both sides"),
            (.halfClosed(by: .client), "client closed its side"),
            (.wentAway(.client), "client went away"),
            (.wentAway(.server), "server went away"),
            (.failed(.server, "Connection refused"), "server error: Connection refused"),
            (.terminated(.idleTimeout), "idle timeout"),
            (.terminated(.clientFailed("x")), "client failed: x"),
            (.rejected("calling AE title not allowed"), "calling AE title not allowed"),
            (.unavailable(.noServer), "refused: \(UnavailableReason.noServer)"),
            (.notWatched("Too many open files"), "cannot watch the client socket: Too many open files"),
            (.proxyHeaderRefused("not a PROXY header"), "refused: not a PROXY header"),
            (
                .lastBytesUnread(after: .closedByBothSides),
                "closed by both sides; last bytes not read within the idle timeout"
            ),
        ]
        for (reason, text) in words {
            #expect(reason.description == text)
        }
    }

    // MARK: reading the client

    @Test func theClientIsReadWhileConnectingUpToTheHoldLimit() {
        var machine = ConnectionStateMachine()
        _ = machine.clientActive(peek: false)
        #expect(machine.mayReadClient(serverWritable: false), "no server leg yet: its writability does not count")
        _ = machine.clientRead(ByteBuffer(repeating: 1, count: ConnectionStateMachine.connectHoldLimit - 1))
        #expect(machine.mayReadClient(serverWritable: true))
        _ = machine.clientRead(bytes("x"))
        #expect(!machine.mayReadClient(serverWritable: true))
    }

    @Test func theClientIsReadWhileForwardingOnlyWhenTheServerTakesMore() {
        let machine = forwardingMachine()
        #expect(machine.mayReadClient(serverWritable: true))
        #expect(!machine.mayReadClient(serverWritable: false))
        var peek = peeking()
        #expect(peek.mayReadClient(serverWritable: false))
        _ = peek.legClosed(.client)
        #expect(peek.mayReadClient(serverWritable: false))
    }

    @Test func clientActiveTwiceIsAProgrammingError() async {
        await #expect(processExitsWith: .failure) {
            var machine = ConnectionStateMachine()
            _ = machine.clientActive(peek: true)
            _ = machine.clientActive(peek: true)
        }
    }
}
