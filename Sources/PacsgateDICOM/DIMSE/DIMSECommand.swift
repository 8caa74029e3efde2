public import NIOCore

/// A DIMSE command set (PS3.7 §9.3, §E.1): group 0000 elements, always Implicit VR Little
/// Endian, decoded by tag (not by position; elements a peer omits or adds are tolerated).
///
/// Holds the elements the gateway's health check and simulated SCP need; other elements are
/// skipped when decoding and never encoded.
public struct DIMSECommand: Sendable, Hashable {
    /// Command Field (0000,0100).
    public struct CommandField: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The wire value.
        public var rawValue: UInt16
        /// Creates a command field from its wire value.
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        /// C-STORE-RQ.
        public static let cStoreRequest = CommandField(rawValue: 0x0001)
        /// C-STORE-RSP.
        public static let cStoreResponse = CommandField(rawValue: 0x8001)
        /// C-GET-RQ.
        public static let cGetRequest = CommandField(rawValue: 0x0010)
        /// C-FIND-RQ.
        public static let cFindRequest = CommandField(rawValue: 0x0020)
        /// C-FIND-RSP.
        public static let cFindResponse = CommandField(rawValue: 0x8020)
        /// C-MOVE-RQ.
        public static let cMoveRequest = CommandField(rawValue: 0x0021)
        /// C-ECHO-RQ.
        public static let cEchoRequest = CommandField(rawValue: 0x0030)
        /// C-ECHO-RSP.
        public static let cEchoResponse = CommandField(rawValue: 0x8030)
        /// C-CANCEL-RQ.
        public static let cCancelRequest = CommandField(rawValue: 0x0FFF)

        /// Whether this is a response (bit 15 set).
        public var isResponse: Bool { self.rawValue & 0x8000 != 0 }

        /// The response command field answering this request.
        public var response: CommandField { CommandField(rawValue: self.rawValue | 0x8000) }

        /// E.g. `C-ECHO-RQ`, or `command 0x0140` for others.
        public var description: String {
            switch self {
            case .cStoreRequest: "C-STORE-RQ"
            case .cStoreResponse: "C-STORE-RSP"
            case .cGetRequest: "C-GET-RQ"
            case .cFindRequest: "C-FIND-RQ"
            case .cFindResponse: "C-FIND-RSP"
            case .cMoveRequest: "C-MOVE-RQ"
            case .cEchoRequest: "C-ECHO-RQ"
            case .cEchoResponse: "C-ECHO-RSP"
            case .cCancelRequest: "C-CANCEL-RQ"
            default: "command 0x\(hexWord(self.rawValue))"
            }
        }
    }

    /// Command Data Set Type value meaning "no data set follows" (0x0101).
    public static let noDataSet: UInt16 = 0x0101
    /// Command Data Set Type value this module sends when a data set follows.
    public static let dataSetPresent: UInt16 = 0x0001

    /// Command Field (0000,0100).
    public var commandField: CommandField
    /// Affected SOP Class UID (0000,0002).
    public var affectedSOPClassUID: String?
    /// Message ID (0000,0110), in requests.
    public var messageID: UInt16?
    /// Message ID Being Responded To (0000,0120), in responses.
    public var messageIDBeingRespondedTo: UInt16?
    /// Priority (0000,0700).
    public var priority: UInt16?
    /// Command Data Set Type (0000,0800): ``noDataSet`` or any other value.
    public var commandDataSetType: UInt16
    /// Status (0000,0900), in responses.
    public var status: DIMSEStatus?
    /// Affected SOP Instance UID (0000,1000).
    public var affectedSOPInstanceUID: String?

    /// Creates a command set.
    public init(
        commandField: CommandField,
        affectedSOPClassUID: String? = nil,
        messageID: UInt16? = nil,
        messageIDBeingRespondedTo: UInt16? = nil,
        priority: UInt16? = nil,
        commandDataSetType: UInt16 = DIMSECommand.noDataSet,
        status: DIMSEStatus? = nil,
        affectedSOPInstanceUID: String? = nil
    ) {
        self.commandField = commandField
        self.affectedSOPClassUID = affectedSOPClassUID
        self.messageID = messageID
        self.messageIDBeingRespondedTo = messageIDBeingRespondedTo
        self.priority = priority
        self.commandDataSetType = commandDataSetType
        self.status = status
        self.affectedSOPInstanceUID = affectedSOPInstanceUID
    }

    /// Whether a data set follows the command.
    public var hasDataSet: Bool { self.commandDataSetType != Self.noDataSet }

    // MARK: Requests and responses this module sends

    /// C-ECHO-RQ on the Verification SOP class.
    public static func echoRequest(messageID: UInt16) -> DIMSECommand {
        DIMSECommand(commandField: .cEchoRequest, affectedSOPClassUID: DICOMUID.verification, messageID: messageID)
    }

    /// C-ECHO-RSP answering `request`.
    public static func echoResponse(to request: DIMSECommand, status: DIMSEStatus = .success) -> DIMSECommand {
        .response(to: request, status: status)
    }

    /// C-STORE-RSP answering `request`, echoing its SOP class and instance.
    public static func storeResponse(to request: DIMSECommand, status: DIMSEStatus = .success) -> DIMSECommand {
        var response = DIMSECommand.response(to: request, status: status)
        response.affectedSOPInstanceUID = request.affectedSOPInstanceUID
        return response
    }

    /// C-FIND-RSP answering `request`: ``DIMSEStatus/pending`` with an identifier data set,
    /// or a final status (e.g. ``DIMSEStatus/success``) without one.
    public static func findResponse(to request: DIMSECommand, status: DIMSEStatus) -> DIMSECommand {
        var response = DIMSECommand.response(to: request, status: status)
        if status == .pending { response.commandDataSetType = Self.dataSetPresent }
        return response
    }

    /// The response to `request` with `status` and no data set: command field with bit 15 set,
    /// SOP class and message ID echoed.
    public static func response(to request: DIMSECommand, status: DIMSEStatus) -> DIMSECommand {
        DIMSECommand(
            commandField: request.commandField.response,
            affectedSOPClassUID: request.affectedSOPClassUID,
            messageIDBeingRespondedTo: request.messageID,
            status: status
        )
    }

    // MARK: Decoding

    private enum Tag {
        static let groupLength = DICOMTag(0x0000, 0x0000)
        static let affectedSOPClassUID = DICOMTag(0x0000, 0x0002)
        static let commandField = DICOMTag(0x0000, 0x0100)
        static let messageID = DICOMTag(0x0000, 0x0110)
        static let messageIDBeingRespondedTo = DICOMTag(0x0000, 0x0120)
        static let priority = DICOMTag(0x0000, 0x0700)
        static let commandDataSetType = DICOMTag(0x0000, 0x0800)
        static let status = DICOMTag(0x0000, 0x0900)
        static let affectedSOPInstanceUID = DICOMTag(0x0000, 0x1000)
    }

    /// Decodes a complete command set (the readable bytes of `commandSet`).
    ///
    /// - Throws: ``DICOMParseError/invalidCommandElement(_:offset:)`` for an element outside
    ///   group 0000, with an undefined length, a wrong size for its VR, or a value running
    ///   past the end; ``DICOMParseError/truncatedCommandSet(offset:)``;
    ///   ``DICOMParseError/missingCommandElement(_:)`` without (0000,0100) or (0000,0800).
    public static func decode(_ commandSet: ByteBuffer) throws(DICOMParseError) -> DIMSECommand {
        var buffer = commandSet
        let start = buffer.readerIndex
        var commandField: UInt16?
        var dataSetType: UInt16?
        var command = DIMSECommand(commandField: CommandField(rawValue: 0))
        while buffer.readableBytes > 0 {
            let offset = buffer.readerIndex - start
            guard
                let (group, element, length) = buffer.readMultipleIntegers(
                    endianness: .little,
                    as: (UInt16, UInt16, UInt32).self
                )
            else {
                throw .truncatedCommandSet(offset: offset)
            }
            let tag = DICOMTag(group, element)
            guard group == 0x0000, UInt64(length) <= UInt64(buffer.readableBytes),
                var value = buffer.readSlice(length: Int(length))
            else {
                throw .invalidCommandElement(tag, offset: offset)
            }
            switch tag {
            case Tag.affectedSOPClassUID:
                command.affectedSOPClassUID = value.getTrimmedString(at: value.readerIndex, length: value.readableBytes)
            case Tag.affectedSOPInstanceUID:
                command.affectedSOPInstanceUID = value.getTrimmedString(
                    at: value.readerIndex,
                    length: value.readableBytes
                )
            case Tag.commandField, Tag.messageID, Tag.messageIDBeingRespondedTo, Tag.priority,
                Tag.commandDataSetType, Tag.status:
                guard length == 2, let number = value.readInteger(endianness: .little, as: UInt16.self) else {
                    throw .invalidCommandElement(tag, offset: offset)
                }
                switch tag {
                case Tag.commandField: commandField = number
                case Tag.messageID: command.messageID = number
                case Tag.messageIDBeingRespondedTo: command.messageIDBeingRespondedTo = number
                case Tag.priority: command.priority = number
                case Tag.commandDataSetType: dataSetType = number
                default: command.status = DIMSEStatus(rawValue: number)
                }
            case Tag.groupLength:
                guard length == 4 else { throw .invalidCommandElement(tag, offset: offset) }
            default:
                continue  // Elements this module does not use.
            }
        }
        guard let commandField else { throw .missingCommandElement(Tag.commandField) }
        guard let dataSetType else { throw .missingCommandElement(Tag.commandDataSetType) }
        command.commandField = CommandField(rawValue: commandField)
        command.commandDataSetType = dataSetType
        return command
    }

    // MARK: Encoding

    /// Writes the command set in tag order, starting with its group length (0000,0000).
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(UInt16(0), UInt16(0), UInt32(4), UInt32(0), endianness: .little)
        let groupStart = buffer.writerIndex
        if let uid = self.affectedSOPClassUID { buffer.writeUIElement(Tag.affectedSOPClassUID, uid) }
        buffer.writeUSElement(Tag.commandField, self.commandField.rawValue)
        if let messageID = self.messageID { buffer.writeUSElement(Tag.messageID, messageID) }
        if let respondedTo = self.messageIDBeingRespondedTo {
            buffer.writeUSElement(Tag.messageIDBeingRespondedTo, respondedTo)
        }
        if let priority = self.priority { buffer.writeUSElement(Tag.priority, priority) }
        buffer.writeUSElement(Tag.commandDataSetType, self.commandDataSetType)
        if let status = self.status { buffer.writeUSElement(Tag.status, status.rawValue) }
        if let uid = self.affectedSOPInstanceUID { buffer.writeUIElement(Tag.affectedSOPInstanceUID, uid) }
        buffer.setInteger(UInt32(buffer.writerIndex - groupStart), at: groupStart - 4, endianness: .little)
    }
}

extension ByteBuffer {
    /// Writes an Implicit VR LE element with a 2-byte unsigned value.
    fileprivate mutating func writeUSElement(_ tag: DICOMTag, _ value: UInt16) {
        self.writeMultipleIntegers(tag.group, tag.element, UInt32(2), value, endianness: .little)
    }

    /// Writes an Implicit VR LE UI element, NUL padded to even length (PS3.5 §9.1).
    fileprivate mutating func writeUIElement(_ tag: DICOMTag, _ uid: String) {
        let length = uid.utf8.count
        let padded = length + length % 2
        self.writeMultipleIntegers(tag.group, tag.element, UInt32(padded), endianness: .little)
        self.writeString(uid)
        if padded > length { self.writeInteger(UInt8(0)) }
    }
}
