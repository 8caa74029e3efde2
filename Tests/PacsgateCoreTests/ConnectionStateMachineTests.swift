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
        #expect(machine.legFailed() == .terminate)
        #expect(isEnding(machine))
        #expect(machine.legFailed() == .none)
    }

    @Test func legFailedWhileHalfClosedTerminates() {
        var machine = forwardingMachine()
        _ = machine.clientInputClosed()
        #expect(machine.legFailed() == .terminate)
        #expect(isEnding(machine))
    }

    @Test func legFailedWhileConnectingTerminates() {
        var machine = peeking()
        _ = machine.clientRead(bytes("x"))
        machine.forwardDecided()
        #expect(machine.legFailed() == .terminate)
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

    @Test func clientActiveTwiceIsAProgrammingError() async {
        await #expect(processExitsWith: .failure) {
            var machine = ConnectionStateMachine()
            _ = machine.clientActive(peek: true)
            _ = machine.clientActive(peek: true)
        }
    }
}
