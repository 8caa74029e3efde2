public import NIOCore

/// Builds framed HL7 acknowledgments (ACK/NAK) for a received message, per protocols.md §2.5.
///
/// The acknowledgment reuses the sender's MSH-1/MSH-2, swaps MSH-3↔MSH-5 and MSH-4↔MSH-6, copies MSH-11
/// and MSH-12, and echoes MSH-10 in MSA-2. Fields copied from the received MSH are written verbatim:
/// they are already valid under the same delimiters and ``MSHParser`` guarantees they hold no control
/// characters. Everything the caller supplies (control ID, diagnostic) is escaped, so no value can end a
/// field, a segment or the frame. Clock and control ID are injected, so output is deterministic.
///
/// Never answer AA/CA unless the message is durably stored (the simulated backend does; the gateway
/// does not): gateway NAKs use ``Outcome/rejected`` (no healthy backend, overload: the sender may
/// retry) or ``Outcome/error`` (content or framing fault).
public enum HL7AckBuilder {
    /// What the acknowledgment reports.
    public enum Outcome: Sendable, Hashable {
        /// AA, or CA in enhanced mode.
        case accepted
        /// AE, or CE in enhanced mode.
        case error
        /// AR, or CR in enhanced mode.
        case rejected
    }

    /// The ERR content of a negative acknowledgment.
    public struct ErrorDetail: Sendable, Hashable {
        /// ERR-3 (v2.5+) or ERR-1.4 (earlier) code.
        public var code: HL7ErrorCode
        /// Short, log-safe diagnostic naming the defect and its byte offset, e.g. from
        /// ``MLLPFramingDefect/description``; ERR-7 (v2.5+) or MSA-3 (earlier). Escaped when written.
        public var diagnostic: String?

        /// Creates ERR content; `diagnostic` must not contain patient data.
        public init(code: HL7ErrorCode, diagnostic: String? = nil) {
            self.code = code
            self.diagnostic = diagnostic
        }
    }

    /// The MSA-1 code for `outcome`: commit codes (CA/CE/CR) when the message's MSH-15 asks for accept
    /// acknowledgments, application codes (AA/AE/AR) otherwise.
    public static func code(for outcome: Outcome, replyingTo header: HL7MessageHeader) -> HL7AcknowledgmentCode {
        switch (outcome, header.requestsAcceptAcknowledgment) {
        case (.accepted, false): .applicationAccept
        case (.error, false): .applicationError
        case (.rejected, false): .applicationReject
        case (.accepted, true): .commitAccept
        case (.error, true): .commitError
        case (.rejected, true): .commitReject
        }
    }

    /// Writes a framed acknowledgment (SB … EB CR) of the message whose MSH is `header`.
    ///
    /// Layout by MSH-12 version:
    /// - MSH-9 is `ACK^<trigger>^ACK` for v2.3.1+ when MSH-9 has a trigger event, else `ACK`.
    /// - With `error`, v2.5+: `ERR|||<code>^<text>^HL70357|E` plus `|||<diagnostic>` (ERR-7) if given.
    /// - With `error`, earlier or unparseable versions: MSA-3 = diagnostic (or the code's text) and
    ///   `ERR|^^^<code>&<text>&HL70357` (ERR-1, error code and location).
    ///
    /// - Parameters:
    ///   - header: MSH of the message being acknowledged.
    ///   - code: MSA-1; see ``code(for:replyingTo:)``.
    ///   - error: ERR content for a negative acknowledgment, or `nil`.
    ///   - controlID: MSH-10 of the acknowledgment itself; must be unique per sender (e.g. `GW-000001`).
    ///   - timestamp: MSH-7.
    ///   - buffer: receives the frame.
    /// - Returns: the number of bytes written.
    @discardableResult
    public static func writeAcknowledgment(
        replyingTo header: HL7MessageHeader,
        code: HL7AcknowledgmentCode,
        error: ErrorDetail? = nil,
        controlID: String,
        timestamp: HL7Timestamp,
        into buffer: inout ByteBuffer
    ) -> Int {
        let delimiters = header.delimiters
        let spans = header.spans
        let version = header.version
        let isV25OrLater = version.map { $0 >= .v2_5 } ?? false
        let start = buffer.writerIndex

        buffer.writeInteger(MLLPFrameScanner.startBlock)
        buffer.writeString("MSH")
        buffer.writeInteger(delimiters.field)
        buffer.writeBytes(header.field(spans.encodingCharacters))
        // MSH-3…6: the original receiver becomes the sender.
        buffer.writeInteger(delimiters.field)
        buffer.writeBytes(header.field(spans.receivingApplication))
        buffer.writeInteger(delimiters.field)
        buffer.writeBytes(header.field(spans.receivingFacility))
        buffer.writeInteger(delimiters.field)
        buffer.writeBytes(header.field(spans.sendingApplication))
        buffer.writeInteger(delimiters.field)
        buffer.writeBytes(header.field(spans.sendingFacility))
        buffer.writeInteger(delimiters.field)
        timestamp.write(into: &buffer)
        buffer.writeMultipleIntegers(delimiters.field, delimiters.field)
        buffer.writeString("ACK")
        let trigger = header.component(2, of: spans.messageType)
        if let version, version >= .v2_3_1, !trigger.isEmpty {
            buffer.writeInteger(delimiters.component)
            buffer.writeBytes(header.field(trigger))
            buffer.writeInteger(delimiters.component)
            buffer.writeString("ACK")
        }
        buffer.writeInteger(delimiters.field)
        buffer.writeHL7Escaped(controlID, delimiters: delimiters)
        buffer.writeInteger(delimiters.field)
        buffer.writeBytes(header.field(spans.processingID))
        buffer.writeInteger(delimiters.field)
        buffer.writeBytes(header.field(spans.versionID))
        buffer.writeInteger(MLLPFrameScanner.carriageReturn)

        buffer.writeString("MSA")
        buffer.writeInteger(delimiters.field)
        buffer.writeString(code.rawValue)
        buffer.writeInteger(delimiters.field)
        buffer.writeBytes(header.field(spans.controlID))
        if let error, !isV25OrLater {
            buffer.writeInteger(delimiters.field)
            buffer.writeHL7Escaped(error.diagnostic ?? error.code.text, delimiters: delimiters)
        }
        buffer.writeInteger(MLLPFrameScanner.carriageReturn)

        if let error {
            buffer.writeString("ERR")
            if isV25OrLater {
                buffer.writeMultipleIntegers(delimiters.field, delimiters.field, delimiters.field)
                buffer.writeString(String(error.code.rawValue))
                buffer.writeInteger(delimiters.component)
                buffer.writeHL7Escaped(error.code.text, delimiters: delimiters)
                buffer.writeInteger(delimiters.component)
                buffer.writeString("HL70357")
                buffer.writeInteger(delimiters.field)
                buffer.writeString("E")
                if let diagnostic = error.diagnostic {
                    buffer.writeMultipleIntegers(delimiters.field, delimiters.field, delimiters.field)
                    buffer.writeHL7Escaped(diagnostic, delimiters: delimiters)
                }
            } else {
                buffer.writeMultipleIntegers(
                    delimiters.field,
                    delimiters.component,
                    delimiters.component,
                    delimiters.component
                )
                buffer.writeString(String(error.code.rawValue))
                buffer.writeInteger(delimiters.subcomponent)
                buffer.writeHL7Escaped(error.code.text, delimiters: delimiters)
                buffer.writeInteger(delimiters.subcomponent)
                buffer.writeString("HL70357")
            }
            buffer.writeInteger(MLLPFrameScanner.carriageReturn)
        }

        buffer.writeMultipleIntegers(MLLPFrameScanner.endBlock, MLLPFrameScanner.carriageReturn)
        return buffer.writerIndex - start
    }

    /// MSH-3 of acknowledgments written by
    /// ``writeAcknowledgmentOfUnreadableMessage(code:error:controlID:timestamp:into:)``.
    public static let gatewayApplication = "PACSGATE"

    /// Writes a framed negative acknowledgment of input whose MSH could not be read, so that neither its
    /// delimiters, its sender nor its control ID are known.
    ///
    /// The sender still gets an answer it can parse and log instead of waiting for its ACK timeout:
    /// standard delimiters `|^~\&`, MSH-3 ``gatewayApplication``, MSH-4…6 empty, MSH-9 `ACK`, MSH-11 `P`,
    /// MSH-12 `2.5.1`, MSA-2 empty (the control ID is unknown) and a v2.5 ERR segment carrying the code and,
    /// in ERR-7, the diagnostic:
    ///
    /// ```
    /// <VT>MSH|^~\&|PACSGATE||||<timestamp>||ACK|<controlID>|P|2.5.1<CR>
    /// MSA|AE|<CR>
    /// ERR|||100^Segment sequence error^HL70357|E|||<diagnostic><CR><FS><CR>
    /// ```
    ///
    /// - Parameters:
    ///   - code: MSA-1, normally ``HL7AcknowledgmentCode/applicationError`` (the MSH is at fault) or
    ///     ``HL7AcknowledgmentCode/applicationReject`` (the framing is).
    ///   - error: ERR content; its diagnostic must be log-safe (no patient data) and is escaped.
    ///   - controlID: MSH-10 of the acknowledgment itself (escaped).
    ///   - timestamp: MSH-7.
    ///   - buffer: receives the frame.
    /// - Returns: the number of bytes written.
    @discardableResult
    public static func writeAcknowledgmentOfUnreadableMessage(
        code: HL7AcknowledgmentCode,
        error: ErrorDetail,
        controlID: String,
        timestamp: HL7Timestamp,
        into buffer: inout ByteBuffer
    ) -> Int {
        let delimiters = HL7Delimiters.standard
        let start = buffer.writerIndex
        buffer.writeInteger(MLLPFrameScanner.startBlock)
        GeneratedMSH(
            sendingApplication: Self.gatewayApplication, timestamp: timestamp, messageType: "ACK", controlID: controlID,
            versionID: "2.5.1"
        ).write(into: &buffer)
        buffer.writeString("MSA|")
        buffer.writeString(code.rawValue)
        buffer.writeString("|")
        buffer.writeInteger(MLLPFrameScanner.carriageReturn)
        buffer.writeString("ERR|||")
        buffer.writeString(String(error.code.rawValue))
        buffer.writeString("^")
        buffer.writeHL7Escaped(error.code.text, delimiters: delimiters)
        buffer.writeString("^HL70357|E")
        if let diagnostic = error.diagnostic {
            buffer.writeString("|||")
            buffer.writeHL7Escaped(diagnostic, delimiters: delimiters)
        }
        buffer.writeInteger(MLLPFrameScanner.carriageReturn)
        buffer.writeMultipleIntegers(MLLPFrameScanner.endBlock, MLLPFrameScanner.carriageReturn)
        return buffer.writerIndex - start
    }
}
