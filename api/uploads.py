"""Receiving an upload: the one path every upload route takes.

    upload = await receive_upload(request, folder, max_bytes)   # -> ReceivedUpload
    ... ingest upload.path (named upload<real extension>) as upload.file_name ...
    upload.cleanup()

In order:
1. The route's dependencies authenticate the caller and the route checks the role before
   this is called. Upload routes declare no File/Form parameters, so FastAPI does not read
   the body before the dependencies run: a caller without a valid token or key gets its
   401 (and a store user its 403) right after the headers, with the body left unread.
2. The body must be multipart/form-data; a Content-Length above the limit is 413 at once.
3. The body is streamed through python-multipart's parser: the `file` part goes to disk
   chunk by chunk and is counted as it arrives. The moment it passes the limit the answer
   is 413, the partial file is deleted and the rest of the body is never read. Nothing is
   held in memory beyond one network chunk. A disk that fills up (or is read-only) while
   the file arrives is the storage error (507 disk_full / 503 read_only), never a 500.
4. The file is saved as `upload` + its real extension (`.csv`, `.xlsx`, `.parquet`,
   `.csv.gz`, ...) in a folder of its own under the API process's temporary folder
   (`api.runtime`), which a later start sweeps if this process is killed.

`CloseUnreadBody` (ASGI middleware) marks any response sent before its request body was
read to the end `Connection: close`, so the server drops the connection instead of
reading and discarding the rest of a large body after a 401, 403 or 413.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from fastapi import Request
from starlette.requests import ClientDisconnect
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from api.errors import ApiError
from api.schemas import first_control_char

FILE_FIELD = "file"
FORM_ROOM = 64 * 1024          # body bytes allowed besides the file: part headers, fields
MAX_NAME = 200
_EXT_OK = re.compile(r"^[a-z0-9]{1,10}$")
_COMPRESSED = {"gz", "gzip", "zip", "bz2", "xz", "zst"}

UPLOAD_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": [FILE_FIELD],
        "properties": {
            FILE_FIELD: {"type": "string", "contentMediaType": "application/octet-stream",
                         "description": "CSV, Excel (.xlsx) or Parquet; saved with its own "
                                        "extension"},
            "sheet": {"type": "string", "maxLength": 100,
                      "description": "Excel: the sheet to read (default: the first)"},
            "mapping": {"type": "string", "maxLength": 4000,
                        "description": "JSON {file column: field}"}}}}},
}


@dataclass
class ReceivedUpload:
    path: Path                  # the saved file: <folder>/upload<real extension>
    file_name: str              # the name the client gave (base name, at most 200 chars)
    size: int                   # bytes of the file
    folder: Path                # this upload's own folder (removed by cleanup)
    fields: dict[str, str] = field(default_factory=dict)

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def client_file_name(raw: str | None) -> str:
    """The base name of the client's file name ('C:\\exports\\Jan.xlsx' -> 'Jan.xlsx'),
    at most MAX_NAME characters; 'upload' when there is none."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:MAX_NAME] or "upload"


def saved_name(file_name: str) -> str:
    """'upload' plus the real extension, lower-case: 'Sales Jan.XLSX' -> 'upload.xlsx',
    'mandi.csv.gz' -> 'upload.csv.gz'; a name without a plain extension -> 'upload'."""
    parts = file_name.split(".")[1:]
    exts = [p.lower() for p in parts[-2:]]
    if not exts or not _EXT_OK.match(exts[-1]):
        return "upload"
    if len(exts) == 2 and exts[-1] in _COMPRESSED and _EXT_OK.match(exts[0]):
        return f"upload.{exts[0]}.{exts[1]}"
    return f"upload.{exts[-1]}"


def storage_problem(exc: OSError):
    """The storage error (disk full / read-only) of an OSError met while saving an upload,
    else None."""
    from engine.warehouse.db import storage_error

    return storage_error(exc, what="the uploaded file could not be saved",
                         where="the server's disk")


def upload_folder(temp) -> Path:
    """A new folder for one upload in the process's temporary area (`api.runtime`); a full
    or read-only disk is its storage error."""
    try:
        return temp.new_folder()
    except OSError as exc:
        problem = storage_problem(exc)
        if problem is None:
            raise
        raise problem from exc


def too_large(max_bytes: int) -> ApiError:
    mb = max_bytes / (1 << 20)
    limit = f"{mb:.0f} MB" if mb >= 1 else f"{max_bytes:,} bytes"
    return ApiError(413, "too_large", f"The file is larger than the API's upload limit of "
                    f"{limit} (MICROPULSE_API_MAX_UPLOAD_MB); nothing was loaded.",
                    headers={"Connection": "close"})


def _invalid(message: str, field_name: str = FILE_FIELD) -> ApiError:
    return ApiError(422, "validation_error", message,
                    [{"field": field_name, "location": "body", "message": message}])


class _TooLarge(Exception):
    pass


class _Invalid(Exception):
    def __init__(self, message: str, field_name: str = FILE_FIELD):
        super().__init__(message)
        self.message, self.field_name = message, field_name


class _Receiver:
    """python-multipart callbacks: the file part to disk (counted), small fields to
    memory (capped), everything else counted against FORM_ROOM."""

    def __init__(self, folder: Path, max_bytes: int, field_limits: dict[str, int]):
        self.folder, self.max_bytes, self.field_limits = folder, max_bytes, field_limits
        self.fields: dict[str, str] = {}
        self.path: Path | None = None
        self.file_name = ""
        self.out = None
        self.size = 0
        self.other = 0
        self.file_done = False
        self.pending: list[bytes] = []
        self._name = ""
        self._kind = "other"          # "file" | "field" | "other"
        self._buf = bytearray()
        self._hname = b""
        self._hvalue = b""
        self._disposition = b""

    def callbacks(self) -> dict:
        return {"on_part_begin": self.on_part_begin, "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end, "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished}

    def on_part_begin(self) -> None:
        self._name, self._kind, self._disposition = "", "other", b""
        self._buf = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def on_header_end(self) -> None:
        if self._hname.strip().lower() == b"content-disposition":
            self._disposition = self._hvalue
        self._hname, self._hvalue = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise _Invalid("A part of the form has no name; send the file in a field "
                           "named 'file'.")
        self._name = options[b"name"].decode("utf-8", "replace")
        if self._name == FILE_FIELD:
            if self.path is not None:
                raise _Invalid("Send one file per upload (the form has more than one "
                               "'file').")
            raw = options.get(b"filename")
            name = client_file_name(raw.decode("utf-8", "replace") if raw else None)
            bad = first_control_char(name)
            if bad:
                raise _Invalid(f"The file name contains a control character ({bad}); "
                               "rename the file and upload it again.")
            self.file_name, self._kind = name, "file"
            self.path = self.folder / saved_name(name)
            self.out = open(self.path, "wb")
        elif self._name in self.field_limits and b"filename" not in options:
            self._kind = "field"

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if self._kind == "file":
            self.size += n
            if self.size > self.max_bytes:
                raise _TooLarge()
            self.pending.append(data[start:end])
        elif self._kind == "field":
            self._buf += data[start:end]
            limit = self.field_limits[self._name]
            if len(self._buf) > 4 * limit:      # bytes; the character limit is checked below
                raise _Invalid(f"Field '{self._name}' is longer than {limit:,} characters.",
                               self._name)
        else:
            self.other += n
            if self.other > FORM_ROOM:
                raise _TooLarge()

    def on_part_end(self) -> None:
        if self._kind == "file":
            self.file_done = True
        elif self._kind == "field":
            try:
                text = self._buf.decode("utf-8")
            except UnicodeDecodeError:
                raise _Invalid(f"Field '{self._name}' is not UTF-8 text.", self._name) \
                    from None
            limit = self.field_limits[self._name]
            if len(text) > limit:
                raise _Invalid(f"Field '{self._name}' is longer than {limit:,} characters.",
                               self._name)
            bad = first_control_char(text)
            if bad:
                raise _Invalid(f"Field '{self._name}' contains a control character ({bad}).",
                               self._name)
            self.fields[self._name] = text

    def flush_pending(self) -> bytes:
        data = b"".join(self.pending)
        self.pending.clear()
        return data

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


async def receive_upload(request: Request, folder: Path, max_bytes: int,
                         field_limits: dict[str, int] | None = None) -> ReceivedUpload:
    """Stream the request's multipart body into `folder` (see the module docstring).
    Raises ApiError 413 (over `max_bytes`) or 422 (not a form with one 'file'); the
    folder is removed on any failure."""
    limits = dict(field_limits or {})
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        shutil.rmtree(folder, ignore_errors=True)
        raise _invalid("Send the upload as multipart/form-data with the file in a field "
                       "named 'file' (e.g. curl -F file=@sales.csv).")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes + FORM_ROOM:
        shutil.rmtree(folder, ignore_errors=True)
        raise too_large(max_bytes)
    rec = _Receiver(folder, max_bytes, limits)
    try:
        parser = MultipartParser(params[b"boundary"], rec.callbacks())
        async for chunk in request.stream():
            parser.write(chunk)
            if rec.pending:
                await anyio.to_thread.run_sync(rec.out.write, rec.flush_pending())
        parser.finalize()
    except _TooLarge:
        rec.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise too_large(max_bytes) from None
    except _Invalid as exc:
        rec.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise _invalid(exc.message, exc.field_name) from None
    except FormParserError:
        rec.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise _invalid("The upload is not valid multipart/form-data (a broken boundary or "
                       "part header); send it again with the file in a field named "
                       "'file'.") from None
    except ClientDisconnect:
        rec.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise ApiError(400, "upload_interrupted", "The connection closed before the upload "
                       "was complete; nothing was loaded. Send the file again.") from None
    except OSError as exc:          # the server's disk is full or read-only
        rec.close()
        shutil.rmtree(folder, ignore_errors=True)
        problem = storage_problem(exc)
        if problem is None:
            raise
        raise problem from exc
    except BaseException:           # the server is stopping
        rec.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    rec.close()
    if rec.path is None:
        shutil.rmtree(folder, ignore_errors=True)
        raise _invalid("The form has no file: send it in a field named 'file' (e.g. "
                       "curl -F file=@sales.csv).")
    if not rec.file_done:
        shutil.rmtree(folder, ignore_errors=True)
        raise _invalid(f"The upload ended before the file was complete ({rec.size:,} bytes "
                       "arrived); nothing was loaded. Send it again.")
    return ReceivedUpload(rec.path, rec.file_name, rec.size, folder, rec.fields)


class CloseUnreadBody:
    """Pure ASGI middleware: a response that starts before its request body was read to
    the end gets `Connection: close`, so the server closes the connection after it rather
    than reading (and discarding) the rest of the body."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"0")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        state = {"done": not chunked and (not length.isdigit() or int(length) == 0)}

        async def tracking_receive():
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                state["done"] = True
            elif message["type"] == "http.disconnect":
                state["done"] = True
            return message

        async def closing_send(message):
            if message["type"] == "http.response.start" and not state["done"]:
                kept = [(k, v) for k, v in message.get("headers", [])
                        if k.lower() != b"connection"]
                message = {**message, "headers": kept + [(b"connection", b"close")]}
            await send(message)

        await self.app(scope, tracking_receive, closing_send)
