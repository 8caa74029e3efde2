public import NIOCore

/// The `dicom-echo` health check as a pure state machine (PS3.7 §9.1.5, PS3.8 §9.3).
///
/// A-ASSOCIATE-RQ (one Verification context, Implicit VR LE) → expect AC with the context
/// accepted → C-ECHO-RQ → expect C-ECHO-RSP status 0x0000 → A-RELEASE-RQ → expect RP.
/// The socket wrapper writes ``start()``'s bytes after connecting, feeds everything it reads to
/// ``receive(_:)`` and performs the returned ``Action``; it calls ``timedOut()`` when its
/// deadline passes and ``connectionClosed()`` when the backend closes first.
public struct EchoProbe: Sendable {
    /// Probe settings.
    public struct Configuration: Sendable, Hashable {
        /// Calling AE title (one the PACS accepts, e.g. `GW-HEALTH`).
        public var callingAETitle: AETitle
        /// Called AE title of the backend node.
        public var calledAETitle: AETitle
        /// Maximum Length advertised and enforced for the backend's P-DATA-TF PDUs; 0 is
        /// treated as 65536 because the probe buffers whole PDUs.
        public var maximumLength: UInt32
        /// Largest A-ASSOCIATE-AC accepted (PDU-length field).
        public var maxAcceptLength: Int
        /// Implementation Class UID sent in the RQ.
        public var implementationClassUID: String
        /// Implementation Version Name sent in the RQ.
        public var implementationVersionName: String

        /// Creates settings.
        public init(
            callingAETitle: AETitle,
            calledAETitle: AETitle,
            maximumLength: UInt32 = 16384,
            maxAcceptLength: Int = 65536,
            implementationClassUID: String = DICOMUID.pacsgateImplementationClass,
            implementationVersionName: String = DICOMUID.pacsgateImplementationVersion
        ) {
            self.callingAETitle = callingAETitle
            self.calledAETitle = calledAETitle
            self.maximumLength = maximumLength
            self.maxAcceptLength = maxAcceptLength
            self.implementationClassUID = implementationClassUID
            self.implementationVersionName = implementationVersionName
        }
    }

    /// What the probe was waiting for.
    public enum Phase: Sendable, Hashable, CustomStringConvertible {
        /// ``EchoProbe/start()`` was not called yet.
        case notStarted
        /// Waiting for the A-ASSOCIATE-AC.
        case awaitingAccept
        /// Waiting for the C-ECHO-RSP.
        case awaitingEchoResponse
        /// Waiting for the A-RELEASE-RP.
        case awaitingReleaseResponse

        /// E.g. `awaiting A-ASSOCIATE-AC`.
        public var description: String {
            switch self {
            case .notStarted: "before start"
            case .awaitingAccept: "awaiting A-ASSOCIATE-AC"
            case .awaitingEchoResponse: "awaiting C-ECHO-RSP"
            case .awaitingReleaseResponse: "awaiting A-RELEASE-RP"
            }
        }
    }

    /// Why a backend is unhealthy; ``description`` is the operator's line.
    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// The backend sent A-ASSOCIATE-RJ.
        case rejected(AssociateReject)
        /// The AC did not accept the Verification context (`nil`: no answer for it at all).
        case contextNotAccepted(PresentationContextResult.Result?)
        /// C-ECHO-RSP with a status other than success.
        case echoStatus(DIMSEStatus)
        /// A DIMSE response that is not the C-ECHO-RSP to our message.
        case unexpectedResponse(DIMSECommand.CommandField, messageID: UInt16?)
        /// The backend sent A-ABORT.
        case aborted(AssociationAbort)
        /// A valid PDU of the wrong type for the phase.
        case unexpectedPDU(PDUType, phase: Phase)
        /// Malformed bytes from the backend.
        case protocolError(DICOMParseError, phase: Phase)
        /// The backend closed the connection first.
        case connectionClosed(phase: Phase)
        /// The caller's deadline passed.
        case timedOut(phase: Phase)

        /// One operator-readable line.
        public var description: String {
            switch self {
            case .rejected(let reject):
                "association rejected: \(reject)"
            case .contextNotAccepted(let result?):
                "Verification context not accepted: \(result) (result \(result.rawValue))"
            case .contextNotAccepted(nil):
                "Verification context missing from A-ASSOCIATE-AC"
            case .echoStatus(let status):
                "C-ECHO status \(status)"
            case .unexpectedResponse(let field, let messageID):
                "unexpected \(field) for message ID \(messageID.map(String.init) ?? "none") awaiting C-ECHO-RSP"
            case .aborted(let abort):
                "aborted by server: \(abort)"
            case .unexpectedPDU(let type, let phase):
                "unexpected PDU type \(hexByte(type.rawValue)) (\(type)) \(phase)"
            case .protocolError(let error, let phase):
                "protocol error \(phase): \(error)"
            case .connectionClosed(let phase):
                "connection closed by server \(phase)"
            case .timedOut(let phase):
                "timed out \(phase)"
            }
        }
    }

    /// Result of a probe.
    public enum Outcome: Sendable, Hashable {
        /// C-ECHO succeeded.
        case healthy
        /// The probe failed, with the reason.
        case unhealthy(Failure)
    }

    /// What the caller does next.
    public enum Action: Sendable, Hashable {
        /// Keep reading.
        case wait
        /// Write these bytes, keep reading.
        case send(ByteBuffer)
        /// Write `send` (if any), then close: the probe is over.
        case finish(Outcome, send: ByteBuffer?)
    }

    /// Presentation context ID the probe proposes.
    public static let contextID: UInt8 = 1
    /// Message ID of the C-ECHO-RQ.
    public static let messageID: UInt16 = 1

    private enum State: Sendable {
        case idle
        case awaitingAccept
        case awaitingEchoResponse
        case awaitingReleaseResponse(Outcome)
        case finished
    }

    /// The settings.
    public let configuration: Configuration
    private var state = State.idle
    private var reader = PDUReader()
    private var reassembler = CommandSetReassembler()

    /// Creates a probe.
    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// The current phase (``Phase/notStarted`` before start and after the end).
    public var phase: Phase {
        switch self.state {
        case .idle, .finished: .notStarted
        case .awaitingAccept: .awaitingAccept
        case .awaitingEchoResponse: .awaitingEchoResponse
        case .awaitingReleaseResponse: .awaitingReleaseResponse
        }
    }

    /// The A-ASSOCIATE-RQ to write after connecting.
    public mutating func start() -> ByteBuffer {
        let request = AssociateRequest(
            calledAETitle: self.configuration.calledAETitle,
            callingAETitle: self.configuration.callingAETitle,
            presentationContexts: [
                PresentationContextProposal(
                    id: Self.contextID,
                    abstractSyntax: DICOMUID.verification,
                    transferSyntaxes: [DICOMUID.implicitVRLittleEndian]
                )
            ],
            userInformation: UserInformation(
                maximumLength: self.configuration.maximumLength,
                implementationClassUID: self.configuration.implementationClassUID,
                implementationVersionName: self.configuration.implementationVersionName
            )
        )
        var bytes = ByteBuffer()
        request.encode(into: &bytes)
        self.state = .awaitingAccept
        return bytes
    }

    /// Feeds bytes read from the backend (any chunking).
    public mutating func receive(_ bytes: ByteBuffer) -> Action {
        switch self.state {
        case .idle, .finished: return .wait
        default: break
        }
        self.reader.append(bytes)
        var toSend = ByteBuffer()
        while true {
            let pdu: PDU?
            do {
                pdu = try self.reader.next(maxLength: self.readLimit)
            } catch {
                return self.finish(.protocolError(error, phase: self.phase), abort: error.abort)
            }
            guard let pdu else { break }
            if let action = self.handle(pdu, toSend: &toSend) {
                return action
            }
        }
        return toSend.readableBytes > 0 ? .send(toSend) : .wait
    }

    /// The caller's deadline passed: gives up with a user-initiated A-ABORT.
    public mutating func timedOut() -> Action {
        switch self.state {
        case .idle, .finished: return .wait
        default:
            return self.finish(
                .timedOut(phase: self.phase),
                abort: AssociationAbort(source: .serviceUser, reason: .notSpecified)
            )
        }
    }

    /// The backend closed the connection. A close while awaiting the A-RELEASE-RP keeps the
    /// C-ECHO result (some SCPs close instead of answering the release).
    /// - Returns: the outcome, or `nil` if the probe had already finished or not started.
    public mutating func connectionClosed() -> Outcome? {
        switch self.state {
        case .idle, .finished:
            return nil
        case .awaitingReleaseResponse(let outcome):
            self.state = .finished
            return outcome
        case .awaitingAccept, .awaitingEchoResponse:
            let outcome = Outcome.unhealthy(.connectionClosed(phase: self.phase))
            self.state = .finished
            return outcome
        }
    }

    private var readLimit: Int {
        switch self.state {
        case .awaitingAccept: self.configuration.maxAcceptLength
        default: self.configuration.maximumLength == 0 ? 65536 : Int(self.configuration.maximumLength)
        }
    }

    /// Handles one PDU, appending any reply to `toSend`; returns an action when the probe
    /// finishes (replies queued so far are then dropped: the association is over).
    private mutating func handle(_ pdu: PDU, toSend: inout ByteBuffer) -> Action? {
        switch (self.state, pdu) {
        case (_, .abort(let abort)):
            return self.finish(.aborted(abort), abort: nil)

        case (.awaitingAccept, .associateReject(let reject)):
            return self.finish(.rejected(reject), abort: nil)

        case (.awaitingAccept, .associateAccept(let accept)):
            guard let context = accept.presentationContexts.first(where: { $0.id == Self.contextID }),
                context.result == .acceptance
            else {
                let result = accept.presentationContexts.first(where: { $0.id == Self.contextID })?.result
                self.release(toSend: &toSend, outcome: .unhealthy(.contextNotAccepted(result)))
                return nil
            }
            let peerMaxLength = accept.userInformation.maximumLength ?? 0
            DIMSEMessageWriter.write(
                .echoRequest(messageID: Self.messageID),
                contextID: Self.contextID,
                maxPDULength: peerMaxLength,
                into: &toSend
            )
            self.state = .awaitingEchoResponse
            return nil

        case (.awaitingEchoResponse, .dataTransfer(let data)):
            do throws(DICOMParseError) {
                for value in data {
                    guard value.presentationContextID == Self.contextID else {
                        throw .unknownPresentationContext(value.presentationContextID)
                    }
                    guard let response = try self.reassembler.append(value) else { continue }
                    guard response.commandField == .cEchoResponse,
                        response.messageIDBeingRespondedTo == Self.messageID
                    else {
                        let failure = Failure.unexpectedResponse(
                            response.commandField,
                            messageID: response.messageIDBeingRespondedTo
                        )
                        self.release(toSend: &toSend, outcome: .unhealthy(failure))
                        return nil
                    }
                    guard let status = response.status else { throw .missingCommandElement(DICOMTag(0x0000, 0x0900)) }
                    let outcome = status == .success ? Outcome.healthy : .unhealthy(.echoStatus(status))
                    self.release(toSend: &toSend, outcome: outcome)
                    return nil
                }
                return nil
            } catch {
                return self.finish(.protocolError(error, phase: self.phase), abort: error.abort)
            }

        case (.awaitingReleaseResponse(let outcome), .releaseResponse):
            self.state = .finished
            return .finish(outcome, send: nil)

        case (.awaitingReleaseResponse(let outcome), .releaseRequest):
            // Release collision (PS3.8 §9.2.7): answer it and end; the C-ECHO result stands.
            self.state = .finished
            var response = ByteBuffer()
            PDU.releaseResponse.encode(into: &response)
            return .finish(outcome, send: response)

        case (.awaitingReleaseResponse, .dataTransfer):
            return nil  // Late P-DATA during release is legal (PS3.8 Sta7); ignore it.

        default:
            let failure = Failure.unexpectedPDU(pdu.type, phase: self.phase)
            return self.finish(failure, abort: AssociationAbort(source: .serviceProvider, reason: .unexpectedPDU))
        }
    }

    /// Queues an A-RELEASE-RQ and waits for the RP, remembering `outcome`.
    private mutating func release(toSend: inout ByteBuffer, outcome: Outcome) {
        PDU.releaseRequest.encode(into: &toSend)
        self.state = .awaitingReleaseResponse(outcome)
    }

    /// Ends the probe as unhealthy, optionally sending an A-ABORT first.
    private mutating func finish(_ failure: Failure, abort: AssociationAbort?) -> Action {
        self.state = .finished
        guard let abort else { return .finish(.unhealthy(failure), send: nil) }
        var bytes = ByteBuffer()
        abort.encode(into: &bytes)
        return .finish(.unhealthy(failure), send: bytes)
    }
}
