#!/usr/bin/env python3
"""Regenerate the DICOM upper-layer fixtures in ../ from real peers, on 127.0.0.1 only.

Each scenario starts a real SCP on a free loopback port, puts a byte-recording tee in front of
it, runs a real SCU against the tee and writes what each side sent:

    <scenario>.client.bin   bytes the SCU sent (starts with its A-ASSOCIATE-RQ)
    <scenario>.server.bin   bytes the SCP sent (starts with its A-ASSOCIATE-AC or -RJ)

Also writes worklist-item.{implicit,explicit}.bin: the simulated SCP's canned worklist item
encoded by pydicom (undefined-length sequence), the reference for the Swift encoder.

Peers: dcmtk 3.6.7 (/usr/bin/..., full paths because pynetdicom's console scripts of the same
names shadow them on PATH) and pynetdicom 3.0.4. All data sets are synthetic demo values; the
user-identity passcode is a dummy that the Swift tests assert never shows up in any description.

Usage: python3 capture.py   (from any directory; needs dcmtk, pynetdicom, pydicom)
"""

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_context
from pynetdicom.pdu_primitives import (
    AsynchronousOperationsWindowNegotiation,
    SCP_SCU_RoleSelectionNegotiation,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    UserIdentityNegotiation,
)
from pynetdicom.sop_class import Verification

HOST = "127.0.0.1"
OUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DUMMY_PASSCODE = b"NOT-A-REAL-PASSCODE-7f3a"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_listening(port, timeout=10.0):
    """Poll /proc/net/tcp for a LISTEN socket on port (connecting would disturb the SCP)."""
    deadline = time.time() + timeout
    needle = ":%04X" % port
    while time.time() < deadline:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[1].endswith(needle) and fields[3] == "0A":
                    return
        time.sleep(0.05)
    raise RuntimeError("nothing listening on port %d" % port)


class Tee:
    """Accept one connection on a loopback port, relay it to the backend, record both directions."""

    def __init__(self, backend_port):
        self.backend_port = backend_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.client_bytes = bytearray()
        self.server_bytes = bytearray()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def _pump(src, dst, record):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            record.extend(data)
            try:
                dst.sendall(data)
            except OSError:
                return

    def _run(self):
        client, _ = self.listener.accept()
        server = socket.create_connection((HOST, self.backend_port))
        up = threading.Thread(target=self._pump, args=(client, server, self.client_bytes))
        down = threading.Thread(target=self._pump, args=(server, client, self.server_bytes))
        up.start()
        down.start()
        up.join()
        down.join()
        client.close()
        server.close()
        self.listener.close()

    def save(self, name):
        self.thread.join(timeout=15)
        if self.thread.is_alive():
            raise RuntimeError("%s: session did not finish" % name)
        for suffix, data in (("client", self.client_bytes), ("server", self.server_bytes)):
            path = os.path.join(OUT, "%s.%s.bin" % (name, suffix))
            with open(path, "wb") as f:
                f.write(data)
            print("%-45s %6d bytes" % (os.path.relpath(path, OUT), len(data)))


def run(cmd):
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    return result.returncode, result.stdout.decode(errors="replace")


def with_dcmtk_scp(args, port, body):
    scp = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port)
        body()
    finally:
        scp.terminate()
        scp.wait(timeout=10)


def demo_ct_file(path):
    """A tiny synthetic CT image (8x8, demo values, fixed UIDs) for storescu."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.10001.1"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.PatientName = "DEMO^PATIENT"
    ds.PatientID = "DEMO-0001"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.10001.2"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.10001.3"
    ds.Rows = 8
    ds.Columns = 8
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(128))
    ds.save_as(path, enforce_file_format=True)


WORKLIST_DUMP = """\
(0008,0005) CS  [ISO_IR 100]
(0008,0050) SH  [DEMO-ACC-1]
(0010,0010) PN  [DEMO^PATIENT]
(0010,0020) LO  [DEMO-0001]
(0010,0030) DA  [19700101]
(0010,0040) CS  [O]
(0020,000d) UI  [1.2.826.0.1.3680043.8.498.10002.1]
(0032,1032) PN  [DEMO^PHYSICIAN]
(0032,1060) LO  [DEMO EXAM]
(0040,0100) SQ
(fffe,e000) -
(0008,0060) CS  [CT]
(0040,0001) AE  [CT01]
(0040,0002) DA  [20250101]
(0040,0003) TM  [080000]
(0040,0006) PN  [DEMO^TECH]
(0040,0007) LO  [DEMO STEP]
(0040,0009) SH  [SPS1]
(0040,0010) SH  [STATION1]
(0040,0011) SH  [ROOM1]
(fffe,e00d) -
(fffe,e0dd) -
(0040,1001) SH  [RP1]
(0040,1003) SH  [LOW]
"""


def scenario_echoscu(tmp):
    port = free_port()
    store_dir = os.path.join(tmp, "echo-store")
    os.makedirs(store_dir)

    def body():
        tee = Tee(port)
        rc, out = run(["/usr/bin/echoscu", "-aet", "MODALITY1", "-aec", "MACH7", HOST, str(tee.port)])
        assert rc == 0, out
        tee.save("echoscu-storescp")

    with_dcmtk_scp(["/usr/bin/storescp", "-aet", "MACH7", "-od", store_dir, str(port)], port, body)


def scenario_storescu(tmp):
    port = free_port()
    store_dir = os.path.join(tmp, "store")
    os.makedirs(store_dir)
    ct = os.path.join(tmp, "demo-ct.dcm")
    demo_ct_file(ct)

    def body():
        tee = Tee(port)
        rc, out = run(["/usr/bin/storescu", "-aet", "MODALITY1", "-aec", "MACH7", HOST, str(tee.port), ct])
        assert rc == 0, out
        tee.save("storescu-storescp")

    with_dcmtk_scp(["/usr/bin/storescp", "-aet", "MACH7", "-od", store_dir, str(port)], port, body)


def scenario_findscu(tmp):
    port = free_port()
    wl_dir = os.path.join(tmp, "wlist")
    ae_dir = os.path.join(wl_dir, "MACH7")
    os.makedirs(ae_dir)
    open(os.path.join(ae_dir, "lockfile"), "w").close()
    dump = os.path.join(tmp, "item.dump")
    with open(dump, "w") as f:
        f.write(WORKLIST_DUMP)
    rc, out = run(["/usr/bin/dump2dcm", dump, os.path.join(ae_dir, "item1.wl")])
    assert rc == 0, out

    def body():
        tee = Tee(port)
        rc, out = run([
            "/usr/bin/findscu", "-W", "-aet", "MODALITY1", "-aec", "MACH7",
            "-k", "PatientName", "-k", "PatientID", "-k", "AccessionNumber",
            "-k", "ScheduledProcedureStepSequence[0].Modality=CT",
            "-k", "ScheduledProcedureStepSequence[0].ScheduledStationAETitle",
            "-k", "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate",
            HOST, str(tee.port),
        ])
        assert rc == 0 and "Pending" in out, out
        tee.save("findscu-wlmscpfs")

    with_dcmtk_scp(["/usr/bin/wlmscpfs", "-dfp", wl_dir, str(port)], port, body)


def scenario_pynetdicom_identity(tmp):
    """pynetdicom SCU: 24 contexts, user identity (username + dummy passcode), roles, async
    window and both extended negotiation items; C-ECHO, then release. SCP: dcmtk storescp, which
    rejects the non-storage contexts in its AC."""
    port = free_port()
    store_dir = os.path.join(tmp, "identity-store")
    os.makedirs(store_dir)

    def body():
        tee = Tee(port)
        ae = AE(ae_title="PYMODALITY")
        ae.add_requested_context(Verification)
        storage = [
            "1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.2",
            "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.4",
            "1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.7",
            "1.2.840.10008.5.1.4.1.1.12.1", "1.2.840.10008.5.1.4.1.1.12.2", "1.2.840.10008.5.1.4.1.1.20",
            "1.2.840.10008.5.1.4.1.1.88.11", "1.2.840.10008.5.1.4.1.1.88.22", "1.2.840.10008.5.1.4.1.1.88.33",
            "1.2.840.10008.5.1.4.1.1.104.1", "1.2.840.10008.5.1.4.1.1.128", "1.2.840.10008.5.1.4.1.1.481.1",
            "1.2.840.10008.5.1.4.1.1.1.2.1", "1.2.840.10008.5.1.4.1.1.13.1.3",
        ]
        for uid in storage:
            ae.add_requested_context(uid, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        ae.add_requested_context("1.2.840.10008.5.1.4.31")      # MWL FIND: storescp rejects it
        ae.add_requested_context("1.2.840.10008.5.1.4.1.2.2.1")  # Study Root FIND: rejected too
        ae.add_requested_context("1.2.840.10008.1.20.1")         # Storage Commitment Push
        assert len(ae.requested_contexts) == 24

        identity = UserIdentityNegotiation()
        identity.user_identity_type = 2
        identity.primary_field = b"demo-user"
        identity.secondary_field = DUMMY_PASSCODE
        identity.positive_response_requested = True
        window = AsynchronousOperationsWindowNegotiation()
        window.maximum_number_operations_invoked = 3
        window.maximum_number_operations_performed = 2
        role = SCP_SCU_RoleSelectionNegotiation()
        role.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2"
        role.scu_role = True
        role.scp_role = True
        ext = SOPClassExtendedNegotiation()
        ext.sop_class_uid = "1.2.840.10008.5.1.4.1.1.4"
        ext.service_class_application_information = b"\x01\x00"
        common = SOPClassCommonExtendedNegotiation()
        common.sop_class_uid = "1.2.840.10008.5.1.4.1.1.88.22"
        common.service_class_uid = "1.2.840.10008.4.2"
        common.related_general_sop_class_identification = ["1.2.840.10008.5.1.4.1.1.88.11"]

        assoc = ae.associate(HOST, tee.port, ae_title="MACH7",
                             ext_neg=[identity, window, role, ext, common])
        assert assoc.is_established, "association failed"
        status = assoc.send_c_echo()
        assert status.Status == 0, status
        assoc.release()
        tee.save("pynetdicom-identity-storescp")

    with_dcmtk_scp(["/usr/bin/storescp", "-aet", "MACH7", "-od", store_dir, str(port)], port, body)


def scenario_rejected(tmp):
    """pynetdicom SCP that only accepts calling AE MODALITY1; dcmtk echoscu calls as INTRUDER."""
    port = free_port()
    ae = AE(ae_title="MACH7")
    ae.add_supported_context(Verification)
    ae.require_calling_aet = ["MODALITY1"]
    server = ae.start_server((HOST, port), block=False)
    try:
        tee = Tee(port)
        rc, out = run(["/usr/bin/echoscu", "-aet", "INTRUDER", "-aec", "MACH7", HOST, str(tee.port)])
        assert rc != 0 and "Calling AE Title Not Recognized" in out, out
        tee.save("echoscu-rejected-pynetdicom")
    finally:
        server.shutdown()


def worklist_item_fixtures():
    """The demo worklist item, as pydicom encodes it in both little-endian transfer syntaxes."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    from pydicom.sequence import Sequence

    ds = Dataset()
    ds.AccessionNumber = "DEMO-ACC-1"
    ds.PatientName = "DEMO^PATIENT"
    ds.PatientID = "DEMO-0001"
    step = Dataset()
    step.Modality = "CT"
    step.ScheduledStationAETitle = "CT01"
    step.ScheduledProcedureStepStartDate = "20250101"
    step.is_undefined_length_sequence_item = True
    ds.ScheduledProcedureStepSequence = Sequence([step])
    ds["ScheduledProcedureStepSequence"].is_undefined_length = True
    for name, implicit in (("implicit", True), ("explicit", False)):
        fp = DicomBytesIO()
        fp.is_little_endian = True
        fp.is_implicit_VR = implicit
        write_dataset(fp, ds)
        path = os.path.join(OUT, "worklist-item.%s.bin" % name)
        with open(path, "wb") as f:
            f.write(fp.getvalue())
        print("%-45s %6d bytes" % (os.path.relpath(path, OUT), len(fp.getvalue())))


def main():
    worklist_item_fixtures()
    with tempfile.TemporaryDirectory() as tmp:
        scenario_echoscu(tmp)
        scenario_storescu(tmp)
        scenario_findscu(tmp)
        scenario_pynetdicom_identity(tmp)
        scenario_rejected(tmp)


if __name__ == "__main__":
    sys.exit(main())
