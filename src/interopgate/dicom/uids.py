"""SOP class and transfer syntax names as profiles write them, resolved to UIDs.

Profiles use the keywords of PS3.6 Annex A (as pydicom ships them, e.g.
``ComputedRadiographyImageStorage``), a few short aliases from the design sketch
(``CRImageStorage``), or a dotted UID. Anything else is a profile error.
"""

from __future__ import annotations

from functools import cache

from pydicom._uid_dict import UID_dictionary
from pydicom.uid import UID

# Short names people write in profiles → PS3.6 keyword (PS3.6 Table A-1 UID names).
ALIASES = {
    "ModalityWorklistFind": "ModalityWorklistInformationModelFind",
    "CRImageStorage": "ComputedRadiographyImageStorage",
    "DXImageStorageForPresentation": "DigitalXRayImageStorageForPresentation",
    "DXImageStorageForProcessing": "DigitalXRayImageStorageForProcessing",
    "CTImageStorage": "CTImageStorage",
    "MRImageStorage": "MRImageStorage",
    "SCImageStorage": "SecondaryCaptureImageStorage",
    "MPPS": "ModalityPerformedProcedureStep",
    "StudyRootFind": "StudyRootQueryRetrieveInformationModelFind",
    "StudyRootMove": "StudyRootQueryRetrieveInformationModelMove",
    "StudyRootGet": "StudyRootQueryRetrieveInformationModelGet",
    "PatientRootFind": "PatientRootQueryRetrieveInformationModelFind",
    "PatientRootMove": "PatientRootQueryRetrieveInformationModelMove",
    "PatientRootGet": "PatientRootQueryRetrieveInformationModelGet",
}


@cache
def _keywords(kind: str) -> dict[str, str]:
    return {
        entry[4]: uid
        for uid, entry in UID_dictionary.items()
        if entry[1] == kind and entry[4] and not entry[3]
    }


def names(kind: str = "SOP Class") -> list[str]:
    """Every accepted name of the given UID kind, for "did you mean" suggestions."""
    return sorted({*_keywords(kind), *(a for a, k in ALIASES.items() if k in _keywords(kind))})


def resolve(name: str, kind: str = "SOP Class") -> UID:
    """Return the UID for a keyword, alias or dotted UID; raise KeyError otherwise."""
    if name and name[0].isdigit():
        return UID(name)
    keyword = ALIASES.get(name, name)
    try:
        return UID(_keywords(kind)[keyword])
    except KeyError:
        raise KeyError(name) from None


def is_storage(uid: str) -> bool:
    """A Storage Service Class SOP class (PS3.4 Annex B), by pynetdicom's service table:
    keywords do not tell (``DigitalXRayImageStorageForPresentation`` ends otherwise)."""
    from pynetdicom.service_class import StorageServiceClass
    from pynetdicom.sop_class import uid_to_service_class

    return uid_to_service_class(uid) is StorageServiceClass


def label(uid: str) -> str:
    """A human name for a UID: ``RT Plan Storage (1.2.840.10008.5.1.4.1.1.481.5)``."""
    entry = UID_dictionary.get(uid)
    return f"{entry[0]} ({uid})" if entry else str(uid)
