public import PacsgateCore

// The audit records that more than their writer reads — the ATNA export maps them to PS3.15 messages, the overview
// counts them — each defined once, here: a public value with audit-level fields (strings, numbers, small nested
// values; no parser type) that writes its own JSON line (``AuditRecord``; the one place its keys are spelled) and is
// that record's ``AuditRecord/payload``. The protocol modules and the admin build these values; readers cast the
// payload (`switch record.payload { case let association as DICOMAssociationAudit: … }`) and never parse a line.
// The core's own `proxy.refused` is ``ProxyRefusedAudit``, in the core.

extension AuditEvent {
    /// One DICOM association, written when it ended (``DICOMAssociationAudit``).
    public static let dicomAssociation: AuditEvent = "dicom.association"
    /// One forwarded HL7 message, written when its ACK arrived or it was closed out without one (``HL7MessageAudit``).
    public static let hl7Message: AuditEvent = "hl7.message"
    /// HL7 input the gateway refused to forward (``HL7RejectedAudit``).
    public static let hl7Rejected: AuditEvent = "hl7.rejected"
    /// An ACK that came after its message was audited without one (``HL7LateAcknowledgmentAudit``).
    public static let hl7LateAcknowledgment: AuditEvent = "hl7.late_ack"
    /// One TLS connection (passthrough or terminated), or a terminated DICOM or HL7 connection whose TLS failed
    /// (``TLSConnectionAudit``).
    public static let tlsConnection: AuditEvent = "tls.connection"
    /// An admin login attempt (``AdminSessionAudit``).
    public static let adminLogin: AuditEvent = "admin.login"
    /// An admin logout (``AdminSessionAudit``).
    public static let adminLogout: AuditEvent = "admin.logout"
    /// A server's state or weight changed, a reload or an upload applied or refused (``AdminChangeAudit``).
    public static let adminChange: AuditEvent = "admin.change"
}

extension AuditRecord {
    /// A real server as audit records write it, or `null` when none was chosen.
    mutating func field(_ key: String, _ server: AuditServer?) {
        if let server { self.field(key, server) } else { self.nullField(key) }
    }
}
