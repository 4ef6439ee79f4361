"""GBCS message layer for the SECMP0037 rig: codec, crypto, test PKI, device-side validation, bundles.

Start with ``usecases`` (the CCS01 layout and every decision on open points), ``message`` (the
envelope), ``validate`` (what a device checks, in which order) and ``builder`` (making messages).
"""

from .builder import Builder
from .bundle import (
    Bundle,
    BundleEntry,
    BundleError,
    NoLocalDelivery,
    generate_bundle,
    import_duis,
    import_file,
)
from .fields import DecodeError
from .keystore import KeyStore, KeyStoreError, create_test_store, derive_store
from .message import Cra, Message
from .usecases import USE_CASES, DeviceType, JoinMethodRole, Role, decode_payload, use_case
from .validate import Accepted, CounterStore, Device, Reason, Rejected, validate

__all__ = [
    "USE_CASES",
    "Accepted",
    "Builder",
    "Bundle",
    "BundleEntry",
    "BundleError",
    "CounterStore",
    "Cra",
    "DecodeError",
    "Device",
    "DeviceType",
    "JoinMethodRole",
    "KeyStore",
    "KeyStoreError",
    "Message",
    "NoLocalDelivery",
    "Reason",
    "Rejected",
    "Role",
    "create_test_store",
    "decode_payload",
    "derive_store",
    "generate_bundle",
    "import_duis",
    "import_file",
    "use_case",
    "validate",
]
