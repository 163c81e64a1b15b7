"""State, seed data and generated content of the fake Dexi API (used by dexi.py).

Seed (restored by POST /_reset; every id is fixed so specs can name it):

  account  acc-test / key key-test   X-DexiIO-Access = md5("acc-testkey-test")
                                     = ACCESS below
  robots   10000000-0000-4000-8000-000000000001  "stags"        (ROBOT_STAGS)
           10000000-0000-4000-8000-000000000002  "screenshots"  (ROBOT_FILES)
           10000000-0000-4000-8000-000000000003  "catalog"      (ROBOT_CATALOG)
  runs     27c719bb-f28f-49f5-aedf-dba2f8e60ba3  "stags run" (RUN_STAGS, the recorded run),
                                     robot stags, 2 stored inputs {"url": ...}
           20000000-0000-4000-8000-000000000002  "history run" (RUN_HISTORY), robot stags,
                                     250 finished executions 31000000-0000-4000-8000-000000000001
                                     (oldest) .. ...000000000250 (newest); every 5th
                                     FAILED, every 7th STOPPED, the rest OK
           20000000-0000-4000-8000-000000000003  "screenshot run" (RUN_FILES)
           20000000-0000-4000-8000-000000000004  "fail run" (RUN_FAIL): its executions end FAILED
           21000000-0000-4000-8000-000000000001 .. ...000000000230  "catalog run N" (robot
                                     catalog), so GET runs has 234 runs and pages
  executions
           3a8ea1f2-6781-4371-841f-66f6210a27b9  OK, run stags: the recorded execution and
                                     (shortened) recorded result, 8 headers, one row
           ae101b8f-1326-451c-ada7-3eab3c0f8a91  OK, run screenshot: result of file-pointer
                                     edge cases (EXEC_FILES, see FILES_RESULT)
           30000000-0000-4000-8000-000000000001  FAILED (run fail)
           30000000-0000-4000-8000-000000000002  STOPPED (run stags; `continue` resumes it)
           30000000-0000-4000-8000-000000000003  RUNNING (run stags; `stop` stops it)
           30000000-0000-4000-8000-000000000004  OK, run screenshot, older than ae101b8f: files
                                     whose ids make one name (EXEC_COLLIDE, see COLLIDE_SEED)
  dataset  40000000-0000-4000-8000-000000000001  450 rows {_id,index,name,category,price,inStock}
  files    see FILES_RESULT: bare lower-case UUID (the recorded 26071-byte PNG id), bare
           upper-case UUID, path-style id, prefixed path-style id with a space, a `+`
           and extra `;` values, an SVG.

Executions created later get uuid5 ids derived from a counter (the same sequence
after every /_reset). Their results: input columns (sorted union of the input
objects' keys), then title, price, image (FILE pointer, bare UUID), screenshot
(FILE pointer, path-style `accounts/...`; odd rows carry a `s3-eu-west-1/` prefix,
every third image pointer an extra `;thumb` value), note (always null), error.
"""

import hashlib
import time
import uuid

ACCOUNT = "acc-test"
API_KEY = "key-test"
ACCESS = hashlib.md5((ACCOUNT + API_KEY).encode("utf-8")).hexdigest()

ROBOT_STAGS = "10000000-0000-4000-8000-000000000001"
ROBOT_FILES = "10000000-0000-4000-8000-000000000002"
ROBOT_CATALOG = "10000000-0000-4000-8000-000000000003"
RUN_STAGS = "27c719bb-f28f-49f5-aedf-dba2f8e60ba3"
RUN_HISTORY = "20000000-0000-4000-8000-000000000002"
RUN_FILES = "20000000-0000-4000-8000-000000000003"
RUN_FAIL = "20000000-0000-4000-8000-000000000004"
EXEC_STAGS = "3a8ea1f2-6781-4371-841f-66f6210a27b9"
EXEC_FILES = "ae101b8f-1326-451c-ada7-3eab3c0f8a91"
EXEC_FAILED = "30000000-0000-4000-8000-000000000001"
EXEC_STOPPED = "30000000-0000-4000-8000-000000000002"
EXEC_RUNNING = "30000000-0000-4000-8000-000000000003"
EXEC_COLLIDE = "30000000-0000-4000-8000-000000000004"
DATASET = "40000000-0000-4000-8000-000000000001"
CATALOG_RUNS = 230
HISTORY_EXECUTIONS = 250
DATASET_ROWS = 450

FINAL_STATES = ("OK", "FAILED", "STOPPED")
NAMESPACE = uuid.UUID("6d657869-2d66-616b-6500-000000000000")
SEED_MS = 1700000000000          # seed timestamps start here (Nov 2023, epoch ms)


def access_hash(account, key):
    """X-DexiIO-Access: lowercase hex md5 of account id followed by API key."""
    return hashlib.md5((account + key).encode("utf-8")).hexdigest()


def now_ms():
    return int(time.time() * 1000)


def derived_id(*parts):
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


# {==== files ====}

class FileInfo:
    def __init__(self, file_id, mime, size, execution):
        self.id, self.mime, self.size, self.execution = file_id, mime, size, execution


def normalise_file_id(file_id):
    """The documented rule: drop everything before `accounts/` (older ids carry a prefix)."""
    at = file_id.find("accounts/")
    return file_id[at:] if at > 0 else file_id


MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff\xe0",
         "image/svg+xml": b'<svg xmlns="http://www.w3.org/2000/svg"><!-- '}


def file_bytes(info):
    """Deterministic content of exactly `info.size` bytes, starting like its type."""
    block = hashlib.sha256(info.id.encode("utf-8")).digest() * 64
    body = MAGIC.get(info.mime, b"") + block * (info.size // len(block) + 1)
    return body[:info.size]


def file_stream(info, n, piece=65536):
    """The first `n` bytes of file_bytes(info), in pieces, without building them all."""
    head = MAGIC.get(info.mime, b"")
    block = hashlib.sha256(info.id.encode("utf-8")).digest() * 2048      # 64 KiB
    sent = 0
    first = (head + block)[:min(n, piece)]
    if first:
        yield first
        sent = len(first)
    offset = sent - len(head)                     # position inside the repeating block
    while sent < n:
        start = offset % len(block)
        chunk = (block[start:] + block[:start])[:min(piece, n - sent)]
        yield chunk
        sent += len(chunk)
        offset += len(chunk)


def pointer(mime, size, file_id, *extra):
    return ";".join(["FILE:%s" % mime, str(size)] + [file_id] + list(extra))


def _size_for(file_id, low, span):
    return low + int(hashlib.sha256(file_id.encode()).hexdigest()[:8], 16) % span


# {==== executions and results ====}

class Execution:
    """One execution. `state` moves initial -> RUNNING -> `final` as it is polled;
    `result` is (headers, rows) of the complete successful result, built lazily."""

    def __init__(self, ex_id, run, account, initial, final, inputs, row_count, starts, seq):
        self.id = ex_id
        self.run_id = run["_id"]
        self.robot_id = run["robotId"]
        self.account = account
        self.state = initial
        self.final = final
        self.inputs = inputs
        self.row_count = row_count
        self.file_size = None          # set by the service from its file_size switch
        self.starts = starts
        self.finished = None
        self.polls = 0
        self.seq = seq
        self.result = None

    def public(self):
        """The shape the real server answered for execute and GET executions/{id}."""
        return {"_id": self.id, "state": self.state, "starts": self.starts,
                "finished": self.finished}

    def listing(self):
        row = self.public()
        row.update(runId=self.run_id, robotId=self.robot_id)
        return row

    def finish(self, state=None):
        self.state = state or self.final
        self.finished = max(now_ms(), self.starts + 1)


OUTPUT_HEADERS = ["title", "price", "image", "screenshot", "note", "error"]


def input_keys(inputs):
    return sorted({key for item in inputs for key in item})


def generated_result(ex):
    """(headers, rows, [FileInfo]) of a generated execution's successful result."""
    keys = input_keys(ex.inputs)
    headers = keys + OUTPUT_HEADERS
    result_id = derived_id(ex.id, "result")
    rows, files = [], []
    for i in range(ex.row_count):
        item = ex.inputs[i % len(ex.inputs)] if ex.inputs else {}
        image = FileInfo(derived_id(ex.id, i, "image"), "image/png", 0, ex.id)
        image.size = ex.file_size or _size_for(image.id, 600, 30000)
        path_id = "accounts/%s/robots/%s/runs/%s/executions/%s/results/%s/lines/%s/screenshot" % (
            ex.account, ex.robot_id, ex.run_id, ex.id, result_id, derived_id(ex.id, i, "line"))
        shot = FileInfo(path_id, "image/jpeg", ex.file_size or _size_for(path_id, 2000, 60000), ex.id)
        shown_path = ("s3-eu-west-1/" + path_id) if i % 2 else path_id
        extra = ("thumb",) if i % 3 == 2 else ()
        rows.append([item.get(k) for k in keys] + [
            "Item %d" % (i + 1), round(9.99 + i, 2),
            pointer(image.mime, image.size, image.id, *extra),
            pointer(shot.mime, shot.size, shown_path), None, None])
        files += [image, shot]
    return headers, rows, files


def failed_rows(ex, headers, rows):
    """A FAILED execution: inputs kept, outputs null, a message in `error`."""
    n_inputs = len(headers) - len(OUTPUT_HEADERS) if headers[-len(OUTPUT_HEADERS):] == OUTPUT_HEADERS else 0
    failed = []
    for i, row in enumerate(rows):
        cells = list(row[:n_inputs]) + [None] * (len(headers) - n_inputs - 1)
        failed.append(cells + ["Robot failed on row %d: element not found" % (i + 1)])
    return failed


def visible_result(ex):
    """What GET executions/{id}/result shows in the execution's current state."""
    headers, rows = ex.result
    if ex.state == "OK":
        return headers, rows
    if ex.state == "FAILED":
        return headers, failed_rows(ex, headers, rows)
    if ex.state == "STOPPED":
        return headers, rows[:len(rows) // 2]
    return headers, []


# {==== result formats ====}

def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"%s"' % str(value).replace('"', '""')


def _xml_text(value):
    text = "" if value is None else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_tag(name):
    tag = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)
    return tag if tag[:1].isalpha() or tag[:1] == "_" else "_" + tag


def format_result(headers, rows, fmt):
    """(body bytes, content type, file extension) of a result in csv, scsv or xml."""
    if fmt in ("csv", "scsv"):
        sep = ";" if fmt == "scsv" else ","
        lines = [sep.join(_csv_cell(h) for h in headers)]
        lines += [sep.join(_csv_cell(v) for v in row) for row in rows]
        return ("\n".join(lines) + "\n").encode("utf-8"), "text/csv", "csv"
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', "<result>"]
    for row in rows:
        cells = "".join("<%s>%s</%s>" % (_xml_tag(h), _xml_text(v), _xml_tag(h))
                        for h, v in zip(headers, row))
        parts.append("<row>%s</row>" % cells)
    parts.append("</result>")
    return "\n".join(parts).encode("utf-8"), "application/xml", "xml"


# {==== seed ====}

STAGS_RESULT = (
    ["propertyData", "images", "floorplans", "description", "agentName", "agentPhone",
     "agentLink", "error"],
    [['{"photo":"http://mr1.homeflow.co.uk/files/photo/image/10985/8639/300x185/'
      'open-uri20150616-12209-n2obvq-0.jpg","property_url":"http://www.stags.co.uk/'
      'properties/8554711/sales","price":"Guide price \\u00a31,600,000","bedrooms":"5",'
      '"lat":50.38464,"lng":-3.623834,"property_id":8554711,"agency_name":"Stags"}',
      "http://mr1.homeflow.co.uk/files/photo/image/10985/8639/721x447/open-uri20150616-"
      "12209-n2obvq-0.jpg; http://mr2.homeflow.co.uk/files/photo/image/10986/0357/721x447/"
      "open-uri20150616-11784-1j6uhpa-0.jpg; ",
      "http://mr0.homeflow.co.uk/files/floorplan/image/2915/5913/open-uri20150616-20836-"
      "oj0r67-0.jpg; ",
      "\n    <p>\n        <strong>Property features</strong>\n    </p>\n    <p>\n"
      "        \u2022 Grade II Listed Farmhouse<br>\n"
      "        \u2022 Magnificent reception rooms<br>\n"
      "        \u2022 5 beds, 3 baths<br>\n    </p>\n",
      "Totnes office", "01803 865454",
      "http://www.stags.co.uk/branches/totnes#contact_office", None]])

_FILES_PATH = "accounts/%s/robots/%s/runs/%s/executions/%s/results/%s/lines/%%s/%%s" % (
    ACCOUNT, ROBOT_FILES, RUN_FILES, EXEC_FILES, "50000000-0000-4000-8000-0000000000aa")
FILE_RECORDED = "11fed7f0-a508-4dc8-956a-481535c6f88a"
FILE_UPPER = "6F0C4A2E-3B5D-4C1E-9A7B-2D8E5F1A0C93"
FILE_PATH = _FILES_PATH % ("50000000-0000-4000-8000-0000000000b1", "ImageFile")
FILE_PATH_ODD = _FILES_PATH % ("50000000-0000-4000-8000-0000000000b2", "Image File+1")
FILE_SVG = "50000000-0000-4000-8000-000000000005"

# (file id, mime, size, text shown in the cell when it differs from the plain pointer)
FILES_SEED = [
    (FILE_RECORDED, "image/png", 26071, None),
    (FILE_UPPER, "image/png", 432123, None),
    (FILE_PATH, "image/jpeg", 2974, None),
    (FILE_PATH_ODD, "image/jpeg", 5120,
     pointer("image/jpeg", 5120, "legacy-store/" + FILE_PATH_ODD, "x-extra", "42")),
    (FILE_SVG, "image/svg+xml", 1234, None),
]
FILES_LABELS = ["recorded bare id", "upper-case bare id", "path-style id",
                "prefixed path-style id with space, plus and extra values", "svg"]


_COLLIDE_PATH = "accounts/%s/robots/%s/runs/%s/executions/%s/results/%s/lines/%%s" % (
    ACCOUNT, ROBOT_FILES, RUN_FILES, EXEC_COLLIDE, "50000000-0000-4000-8000-0000000000cc")
# Distinct ids that a file name made from the id alone maps to one name: L1_Image.png three
# times, L_1_Image.png twice, and a bare id kept as it is (an unknown MIME subtype adds no
# extension), notes.txt, which a user may have already.
COLLIDE_SEED = [
    (_COLLIDE_PATH % "L1/Image", "image/png", 1000),
    (_COLLIDE_PATH % "L1/Image.png", "image/png", 1001),
    ("L1_Image.png", "image/png", 1002),
    (_COLLIDE_PATH % "L 1/Image", "image/png", 1003),
    (_COLLIDE_PATH % "L_1/Image", "image/png", 1004),
    ("notes.txt", "application/x-anything", 64),
]


def collide_result():
    rows = [[pointer(mime, size, file_id)] for file_id, mime, size in COLLIDE_SEED]
    files = [FileInfo(f, m, s, EXEC_COLLIDE) for f, m, s in COLLIDE_SEED]
    return (["file"], rows), files


def files_result():
    rows = []
    for (file_id, mime, size, shown), label in zip(FILES_SEED, FILES_LABELS):
        rows.append([shown or pointer(mime, size, file_id), label, None])
    rows.append([None, "no file", None])
    files = [FileInfo(f, m, s, EXEC_FILES) for f, m, s, _ in FILES_SEED]
    return (["image", "label", "error"], rows), files


class Store:
    """All mutable Dexi state; a fresh seeded one replaces the old on /_reset."""

    def __init__(self):
        self.robots, self.runs, self.run_inputs = {}, {}, {}
        self.executions, self.datasets, self.files = {}, {}, {}
        self.counter = 0
        self.seq = 0
        seed(self)

    def new_id(self, kind):
        self.counter += 1
        return derived_id("new", kind, self.counter)

    def next_seq(self):
        self.seq += 1
        return self.seq

    def add_robot(self, robot_id, name, account=ACCOUNT, **fields):
        robot = {"_id": robot_id, "name": name, "accountId": account, "type": "SCRAPER"}
        robot.update(fields)
        self.robots[robot_id] = robot
        return robot

    def add_run(self, run_id, name, robot_id, account=ACCOUNT, inputs=()):
        run = {"_id": run_id, "name": name, "accountId": account, "robotId": robot_id,
               "version": 1, "_seq": self.next_seq()}
        self.runs[run_id] = run
        self.run_inputs[run_id] = [dict(i) for i in inputs]
        return run

    def add_execution(self, ex_id, run_id, initial, final, inputs, row_count, starts,
                      account=ACCOUNT):
        ex = Execution(ex_id, self.runs[run_id], account, initial, final, inputs,
                       row_count, starts, self.next_seq())
        self.executions[ex_id] = ex
        return ex

    def ensure_result(self, ex):
        """Build (once) and register the execution's result and its files."""
        if ex.result is None:
            headers, rows, files = generated_result(ex)
            ex.result = (headers, rows)
            self.add_files(files)
        return ex.result

    def add_files(self, files):
        for info in files:
            self.files[info.id] = info


def _finished(ex, state, finished):
    ex.state, ex.finished = state, finished


def seed(store):
    store.add_robot(ROBOT_STAGS, "stags")
    store.add_robot(ROBOT_FILES, "screenshots")
    store.add_robot(ROBOT_CATALOG, "catalog", type="CRAWLER")
    for n in range(1, CATALOG_RUNS + 1):         # oldest first, so they list last
        store.add_run("21000000-0000-4000-8000-%012d" % n, "catalog run %d" % n, ROBOT_CATALOG)
    store.add_run(RUN_HISTORY, "history run", ROBOT_STAGS)
    store.add_run(RUN_FILES, "screenshot run", ROBOT_FILES)
    store.add_run(RUN_FAIL, "fail run", ROBOT_STAGS)
    store.add_run(RUN_STAGS, "stags run", ROBOT_STAGS,
                  inputs=[{"url": "https://example.com/a"}, {"url": "https://example.com/b"}])
    _seed_history(store)
    _seed_executions(store)
    categories = ("books", "games", "tools")
    store.datasets[DATASET] = [
        {"_id": derived_id("row", i), "index": i, "name": "Product %d" % i,
         "category": categories[i % 3], "price": round(1.5 + i * 0.25, 2), "inStock": i % 4 != 0}
        for i in range(1, DATASET_ROWS + 1)]


def _seed_history(store):
    for n in range(1, HISTORY_EXECUTIONS + 1):
        state = "FAILED" if n % 5 == 0 else "STOPPED" if n % 7 == 0 else "OK"
        starts = SEED_MS + n * 60000
        ex = store.add_execution("31000000-0000-4000-8000-%012d" % n, RUN_HISTORY, "QUEUED",
                                 state, [], 3, starts)
        _finished(ex, state, starts + 30000)


def _seed_executions(store):
    ex = store.add_execution(EXEC_STAGS, RUN_STAGS, "QUEUED", "OK", [], 1, 1444436313493)
    _finished(ex, "OK", 1444436317128)
    ex.result = STAGS_RESULT
    ex = store.add_execution(EXEC_FILES, RUN_FILES, "QUEUED", "OK", [], 6, 1473929930000)
    _finished(ex, "OK", 1473929946000)
    ex.result, files = files_result()
    store.add_files(files)
    ex = store.add_execution(EXEC_COLLIDE, RUN_FILES, "QUEUED", "OK", [], len(COLLIDE_SEED), 1473929000000)
    _finished(ex, "OK", 1473929010000)
    ex.result, files = collide_result()
    store.add_files(files)
    ex = store.add_execution(EXEC_FAILED, RUN_FAIL, "QUEUED", "FAILED", [], 2, SEED_MS + 20000000)
    _finished(ex, "FAILED", SEED_MS + 20005000)
    inputs = store.run_inputs[RUN_STAGS]
    ex = store.add_execution(EXEC_STOPPED, RUN_STAGS, "QUEUED", "OK", inputs, 2, SEED_MS + 30000000)
    _finished(ex, "STOPPED", SEED_MS + 30005000)
    ex = store.add_execution(EXEC_RUNNING, RUN_STAGS, "QUEUED", "OK", inputs, 2, SEED_MS + 40000000)
    ex.state = "RUNNING"
