"""Enforce the evidence size limit while the request body streams in.

Django's default handlers keep small uploads in memory and spool larger ones to
a temporary file, but they accept any size: a 2 GB body would be written to
disk in full before a view could look at ``upload.size``. The handler here sits
first in ``request.upload_handlers``, counts file bytes as they arrive and stops
reading the body as soon as the count passes ``EVIDENCE_MAX_BYTES``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt, csrf_protect


class EvidenceSizeLimitUploadHandler(FileUploadHandler):
    """Count uploaded file bytes across the request; stop the upload past the limit.

    Once over, it raises ``StopUpload(connection_reset=True)``: Django stops
    parsing and does not read (or spool) the rest of the body. Fields that came
    before the file (the CSRF token in Django's forms) are kept; the file is
    dropped and ``exceeded`` is set so the view can say why.
    """

    def __init__(self, request: HttpRequest | None = None, *, limit: int | None = None) -> None:
        super().__init__(request)
        self.limit = settings.EVIDENCE_MAX_BYTES if limit is None else limit
        self.received = 0
        self.exceeded = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=True)
        return raw_data  # pass the chunk on to Django's memory/temporary-file handlers

    def file_complete(self, file_size: int):
        return None  # the next handler builds the UploadedFile


def install_evidence_upload_handlers(request: HttpRequest) -> EvidenceSizeLimitUploadHandler:
    """Put the size-limit handler in front of Django's upload handlers for this request.

    It must run BEFORE anything reads ``request.POST`` or ``request.FILES``:
    the body is parsed once, with whatever handlers are installed at that
    moment. ``CsrfViewMiddleware`` reads ``request.POST`` in ``process_view``,
    so (as Django documents for modifying upload handlers on the fly) the view
    must be ``@csrf_exempt`` and do its CSRF check itself, after installing the
    handler, through a ``@csrf_protect`` inner function::

        @csrf_exempt
        @require_POST
        def evidence_upload(request, pk):
            install_evidence_upload_handlers(request)
            return _evidence_upload(request, pk)

        @csrf_protect
        def _evidence_upload(request, pk):
            upload = evidence_upload_from(request)   # raises EvidenceRejected
            ...

    :func:`evidence_upload_view` is that pattern as a decorator. Raises
    ``RuntimeError`` if the body has already been parsed, because then the
    handler would silently not apply.
    """
    if hasattr(request, "_files"):
        raise RuntimeError(
            "The request body was parsed before the evidence upload handler was installed; "
            "make the view @csrf_exempt and install the handler before reading request.POST/FILES."
        )
    handler = EvidenceSizeLimitUploadHandler(request)
    request.upload_handlers.insert(0, handler)
    return handler


def evidence_upload_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Decorate an upload view: size-limit handler first, then Django's CSRF check.

    Stack it outermost (above ``@require_POST``): it marks the view
    ``csrf_exempt`` for the middleware and performs the same check with
    ``csrf_protect`` once the handler is in place.
    """
    protected = csrf_protect(view)

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "POST":
            install_evidence_upload_handlers(request)
        return protected(request, *args, **kwargs)

    return wrapper


def evidence_upload_from(request: HttpRequest, field: str = "file"):
    """The uploaded file in ``field``, or :class:`~signoffs.evidence.EvidenceRejected` saying why not."""
    from signoffs.evidence import EvidenceRejected, _too_large_message

    files = request.FILES  # parses the body (with the handler, if installed)
    for handler in request.upload_handlers:
        if isinstance(handler, EvidenceSizeLimitUploadHandler) and handler.exceeded:
            raise EvidenceRejected(_too_large_message(None))
    upload = files.get(field)
    if upload is None:
        raise EvidenceRejected("Choose a screenshot to upload.")
    return upload
