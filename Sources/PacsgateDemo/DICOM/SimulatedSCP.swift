public import PacsgateDICOM
public import NIOCore

/// A pure responder for the demo's simulated Mach7 node: feed it a client's bytes, write what
/// it returns, close when told.
///
/// It accepts any association (any called AE). Per presentation context it accepts
/// Verification, any Storage SOP class (`1.2.840.10008.5.1.4.1.1.*`) and (with
/// `servesWorklist`, the default) Modality Worklist FIND with the first offered of Implicit or
/// Explicit VR Little Endian; other abstract
/// syntaxes get result 3, other transfer syntaxes result 4. It answers C-ECHO (success),
/// C-STORE (success; data set fragments are dropped as they pass, never accumulated), C-FIND
/// on the worklist model (one ``WorklistItem`` as pending 0xFF00, then success), any other
/// request with 0x0211, A-RELEASE-RQ with RP and close, A-ABORT with close. Protocol errors
/// are answered with the A-ABORT (or, for a bad protocol version, the A-ASSOCIATE-RJ) that
/// ``DICOMParseError`` names, then close.
public struct SimulatedSCP: Sendable {
    /// Responder settings.
    public struct Configuration: Sendable, Hashable {
        /// Maximum Length advertised in the AC and enforced on the client's P-DATA-TF PDUs;
        /// must not be 0 (which would advertise "no limit").
        public var maximumLength: UInt32
        /// Largest A-ASSOCIATE-RQ accepted (PDU-length field).
        public var maxRequestLength: Int
        /// Implementation Class UID sent in the AC.
        public var implementationClassUID: String
        /// Implementation Version Name sent in the AC.
        public var implementationVersionName: String
        /// The item every worklist C-FIND returns.
        public var worklistItem: WorklistItem
        /// Whether Modality Worklist FIND is accepted (a DMWL node); otherwise it gets result 3 like any
        /// unsupported abstract syntax.
        public var servesWorklist: Bool

        /// Creates settings.
        public init(
            maximumLength: UInt32 = 16384,
            maxRequestLength: Int = 65536,
            implementationClassUID: String = DICOMUID.pacsgateImplementationClass,
            implementationVersionName: String = DICOMUID.pacsgateImplementationVersion,
            worklistItem: WorklistItem = .demo,
            servesWorklist: Bool = true
        ) {
            self.maximumLength = maximumLength
            self.maxRequestLength = maxRequestLength
            self.implementationClassUID = implementationClassUID
            self.implementationVersionName = implementationVersionName
            self.worklistItem = worklistItem
            self.servesWorklist = servesWorklist
        }
    }

    /// What to do after feeding bytes.
    public struct Output: Sendable, Hashable {
        /// Bytes to write (possibly empty), before closing if ``closeConnection`` is set.
        public var bytes: ByteBuffer
        /// Whether to close the connection after writing ``bytes``.
        public var closeConnection: Bool
        /// The protocol error that ended the association, for the log.
        public var error: DICOMParseError?

        /// Creates an output.
        public init(bytes: ByteBuffer, closeConnection: Bool, error: DICOMParseError? = nil) {
            self.bytes = bytes
            self.closeConnection = closeConnection
            self.error = error
        }
    }

    /// Service a presentation context was accepted for.
    private enum Service: Sendable {
        case verification
        case storage
        case worklist
    }

    private struct AcceptedContext: Sendable {
        var service: Service
        var encoding: DataSetEncoding
    }

    private struct Association: Sendable {
        var contexts: [UInt8: AcceptedContext]
        var peerMaxLength: UInt32
        /// A request whose data set is still arriving (its fragments are discarded).
        var awaitingDataSet: (command: DIMSECommand, contextID: UInt8)?
    }

    private enum State: Sendable {
        case awaitingRequest
        case established(Association)
        case closed
    }

    /// The settings.
    public let configuration: Configuration
    private var state = State.awaitingRequest
    private var reader = PDUReader()
    private var reassembler = CommandSetReassembler()

    /// Creates a responder for one connection.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// The answer this SCP gives to one proposed presentation context.
    public static func negotiate(_ proposal: PresentationContextProposal) -> PresentationContextResult {
        Self.negotiate(proposal, servesWorklist: true)
    }

    /// The answer to one proposed context; without `servesWorklist`, Modality Worklist FIND is not supported.
    public static func negotiate(
        _ proposal: PresentationContextProposal,
        servesWorklist: Bool
    ) -> PresentationContextResult {
        let service = Self.service(for: proposal.abstractSyntax)
        guard let service, servesWorklist || service != .worklist else {
            return PresentationContextResult(id: proposal.id, result: .abstractSyntaxNotSupported, transferSyntax: nil)
        }
        guard
            let transferSyntax = proposal.transferSyntaxes.first(where: { DataSetEncoding(transferSyntax: $0) != nil })
        else {
            return PresentationContextResult(
                id: proposal.id,
                result: .transferSyntaxesNotSupported,
                transferSyntax: nil
            )
        }
        return PresentationContextResult(id: proposal.id, result: .acceptance, transferSyntax: transferSyntax)
    }

    private static func service(for abstractSyntax: String) -> Service? {
        if abstractSyntax == DICOMUID.verification { return .verification }
        if abstractSyntax == DICOMUID.modalityWorklistFind { return .worklist }
        if abstractSyntax.hasPrefix(DICOMUID.storageSOPClassPrefix) { return .storage }
        return nil
    }

    /// Feeds bytes read from the client (any chunking).
    public mutating func receive(_ bytes: ByteBuffer) -> Output {
        var output = Output(bytes: ByteBuffer(), closeConnection: false, error: nil)
        if case .closed = self.state {
            output.closeConnection = true
            return output
        }
        self.reader.append(bytes)
        do throws(DICOMParseError) {
            while !output.closeConnection, let pdu = try self.reader.next(maxLength: self.readLimit) {
                try self.handle(pdu, output: &output)
            }
        } catch {
            if case .awaitingRequest = self.state, let reject = error.associateReject {
                reject.encode(into: &output.bytes)
            } else {
                error.abort.encode(into: &output.bytes)
            }
            output.closeConnection = true
            output.error = error
            self.state = .closed
        }
        return output
    }

    private var readLimit: Int {
        switch self.state {
        case .awaitingRequest: self.configuration.maxRequestLength
        default: Int(self.configuration.maximumLength)
        }
    }

    private mutating func handle(_ pdu: PDU, output: inout Output) throws(DICOMParseError) {
        switch (self.state, pdu) {
        case (.awaitingRequest, .associateRequest(let request)):
            self.accept(request, output: &output)

        case (.established(var association), .dataTransfer(let data)):
            for value in data {
                try self.handle(value, association: &association, output: &output)
            }
            self.state = .established(association)

        case (.established, .releaseRequest):
            PDU.releaseResponse.encode(into: &output.bytes)
            output.closeConnection = true
            self.state = .closed

        case (_, .abort):
            output.closeConnection = true
            self.state = .closed

        default:
            throw .unexpectedPDU(pdu.type, offset: 0)
        }
    }

    private mutating func accept(_ request: AssociateRequest, output: inout Output) {
        let userInformation = UserInformation(
            maximumLength: self.configuration.maximumLength,
            implementationClassUID: self.configuration.implementationClassUID,
            implementationVersionName: self.configuration.implementationVersionName
        )
        let accept = AssociateAccept(
            answering: request,
            userInformation: userInformation,
            decide: {
                Self.negotiate($0, servesWorklist: self.configuration.servesWorklist)
            }
        )
        var contexts: [UInt8: AcceptedContext] = [:]
        for (proposal, result) in zip(request.presentationContexts, accept.presentationContexts) {
            guard let transferSyntax = result.transferSyntax,
                let encoding = DataSetEncoding(transferSyntax: transferSyntax),
                let service = Self.service(for: proposal.abstractSyntax)
            else { continue }
            contexts[result.id] = AcceptedContext(service: service, encoding: encoding)
        }
        accept.encode(into: &output.bytes)
        let peerMaxLength = request.userInformation.maximumLength ?? 0
        self.state = .established(Association(contexts: contexts, peerMaxLength: peerMaxLength))
    }

    private mutating func handle(
        _ value: PresentationDataValue,
        association: inout Association,
        output: inout Output
    ) throws(DICOMParseError) {
        let contextID = value.presentationContextID
        guard let context = association.contexts[contextID] else { throw .unknownPresentationContext(contextID) }
        if value.isCommand {
            guard association.awaitingDataSet == nil else {
                throw .unexpectedPDV(contextID: contextID, isCommand: true)
            }
            guard let command = try self.reassembler.append(value) else { return }
            if command.hasDataSet {
                association.awaitingDataSet = (command, contextID)
            } else {
                self.respond(to: command, on: contextID, context, association, output: &output)
            }
        } else {
            guard let pending = association.awaitingDataSet, pending.contextID == contextID else {
                throw .unexpectedPDV(contextID: contextID, isCommand: false)
            }
            if value.isLastFragment {
                association.awaitingDataSet = nil
                self.respond(to: pending.command, on: contextID, context, association, output: &output)
            }
        }
    }

    private func respond(
        to request: DIMSECommand,
        on contextID: UInt8,
        _ context: AcceptedContext,
        _ association: Association,
        output: inout Output
    ) {
        func send(_ command: DIMSECommand, dataSet: ByteBuffer? = nil) {
            DIMSEMessageWriter.write(
                command,
                dataSet: dataSet,
                contextID: contextID,
                maxPDULength: association.peerMaxLength,
                into: &output.bytes
            )
        }
        switch (request.commandField, context.service) {
        case (.cEchoRequest, .verification):
            send(.echoResponse(to: request))
        case (.cStoreRequest, .storage):
            send(.storeResponse(to: request))
        case (.cFindRequest, .worklist):
            var item = ByteBuffer()
            self.configuration.worklistItem.encode(into: &item, encoding: context.encoding)
            send(.findResponse(to: request, status: .pending), dataSet: item)
            send(.findResponse(to: request, status: .success))
        case (.cCancelRequest, _):
            break  // C-FIND is answered at once: nothing left to cancel.
        default:
            if !request.commandField.isResponse {
                send(.response(to: request, status: .unrecognizedOperation))
            }
        }
    }
}
