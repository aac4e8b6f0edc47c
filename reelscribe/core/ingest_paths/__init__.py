"""The ingest paths: the ways a video gets into an index, behind one interface.

- ``base``: the ``IngestPath`` protocol (submit, wait, retrieve; status and ``as_ready`` for the
  webhook mode) and the records its steps pass on (``Submission``, ``LandRequest``, ``Retrieved``).
- ``tasks_path``: ``POST /tasks`` (marked for removal in v1.3). Deleting it is this module, its
  entry in ``choose.PREFERENCE`` and its tests.
- ``assets_path`` (and ``asset_upload``, its multipart upload): ``POST /assets``, then indexed assets.
- ``choose``: ``auto|assets|tasks`` → a path, once per batch; a pending record's name → its path.

A new path is a module here with a class that has the protocol's members, and an entry in
``choose.PREFERENCE``. The Prefect steps and flows import only this package's ``base`` and
``choose`` (an import-linter contract).
"""
