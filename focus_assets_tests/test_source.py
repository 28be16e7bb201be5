"""Reading export objects: formats, encodings, quoting, and cutting into pieces of whole records."""

import gzip
import zipfile

import polars as pl
import pytest

from focus_assets.focus.source import ExportFileError, read_csv_members, read_records
from focus_assets.focus.splitting import CsvPiece, object_events

from .helpers import BASE_ROW, csv_text, write_export

LIMIT = 1 << 30


def records(path, key="k", piece_bytes=1 << 20, **kwargs):
    """[(member, header names, [(first_line, rows)])] of an object, parsed the way the transform does."""
    out = []
    for member in read_csv_members(
        path, key, max_uncompressed_bytes=kwargs.pop("limit", LIMIT), piece_bytes=piece_bytes
    ):
        pieces = []
        for piece in member.pieces:
            frame = pl.read_csv(
                bytes(piece.data), has_header=False, new_columns=list(member.header.names), infer_schema=False
            )
            pieces.append((piece.first_line, frame.rows()))
        out.append((member.member, member.header.names, pieces))
    return out


QUOTED_JSON = '{"a":"x, y","q":"say \\"hi\\""}'  # commas and quotes inside a quoted field
TRICKY = csv_text(
    [
        {"BilledCost": "1", "Tags": QUOTED_JSON},
        {"BilledCost": "2", "ResourceName": "line one\nline two"},
        {"BilledCost": "3", "ResourceName": "crlf\r\ninside"},
        {"BilledCost": "4", "ResourceName": "中文"},
    ]
)


@pytest.mark.parametrize(
    "name, bom, crlf",
    [
        ("x.csv", False, False),
        ("x.csv", True, True),
        ("x.csv.gz", True, False),
        ("x.csv.gz", False, True),
    ],
)
def test_csv_and_gzip_with_bom_crlf_and_rfc4180_quoting(tmp_path, name, bom, crlf):
    text = csv_text(
        [
            {"BilledCost": "1", "Tags": QUOTED_JSON},
            {"BilledCost": "2", "ResourceName": "line one\nline two"},
            {"BilledCost": "4", "ResourceName": "中文"},
        ],
        crlf=crlf,
    )
    path = write_export(tmp_path / name, text, bom=bom)
    [(member, names, pieces)] = records(path)
    assert member is None and names[0] == "BillingPeriodStart"  # BOM gone
    rows = [r for _, chunk in pieces for r in chunk]
    index = names.index("ResourceName")
    assert rows[0][names.index("Tags")] == QUOTED_JSON
    assert rows[1][index] == "line one\nline two"  # kept as delivered, whatever the line ends
    assert rows[2][index] == "中文"


def test_zip_with_several_csvs_reads_every_member_in_name_order(tmp_path):
    path = write_export(
        tmp_path / "bill.zip",
        [
            ("b_2.csv", csv_text([{"BilledCost": "2"}])),
            ("a_1.csv", csv_text([{"BilledCost": "1"}])),
            ("readme.txt", "not a bill"),
        ],
    )
    found = records(path)
    assert [m for m, _, _ in found] == ["a_1.csv", "b_2.csv"]


@pytest.mark.parametrize("piece_bytes", [1, 7, 64, 100, 333])
def test_pieces_always_end_at_record_boundaries(tmp_path, piece_bytes):
    """Cut into tiny pieces, quoted line breaks and quotes never split a record, and the line
    numbers of the pieces follow the file's physical lines."""
    path = write_export(tmp_path / "x.csv", TRICKY)
    whole = records(path)[0][2]
    cut = records(path, piece_bytes=piece_bytes)[0][2]
    assert [r for _, rows in cut for r in rows] == [r for _, rows in whole for r in rows]
    assert len(cut) > 1
    # Each piece starts at the physical line of its first record: 2, 3, 5 (two lines), 7 (two lines).
    starts = {first for first, _ in cut}
    assert starts <= {2, 3, 5, 7} and 2 in starts


def test_a_file_without_a_final_line_break(tmp_path):
    path = write_export(tmp_path / "x.csv", csv_text([{"BilledCost": "1"}, {"BilledCost": "2"}]).rstrip("\n"))
    rows = [r for _, chunk in records(path, piece_bytes=10)[0][2] for r in chunk]
    assert len(rows) == 2


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b""), "empty object (0 bytes)"),
        (
            lambda p: p.write_bytes(gzip.compress(csv_text([BASE_ROW]).encode())[:-30]),
            "corrupt or truncated compressed data",
        ),
        (lambda p: p.write_bytes(b"PK\x03\x04" + b"\x00" * 50), "corrupt zip"),
        (lambda p: zipfile.ZipFile(p, "w").writestr("notes.txt", "hello"), "zip holds no .csv file"),
        (lambda p: p.write_bytes(b"\n\n"), "no header row"),
        (lambda p: p.write_text("BilledCost;BillingCurrency\n1;CNY\n"), "wrong delimiter, or not a CSV"),
        (
            lambda p: p.write_text("<html><body>503 Service Unavailable</body></html>"),
            "header lacks required column(s)",
        ),
        (
            lambda p: p.write_text(csv_text([BASE_ROW], header=["BilledCost", "BilledCost", *list(BASE_ROW)[:-3]])),
            "column BilledCost: duplicated header column",
        ),
        (lambda p: p.write_bytes(b"BilledCost,Billing\xffCurrency\n"), "header is not UTF-8"),
    ],
)
def test_unreadable_objects_fail_with_one_line_naming_the_object(tmp_path, make, message):
    path = tmp_path / "obj"
    make(path)
    with pytest.raises(ExportFileError) as caught:
        records(path, key="bucket/202601/20260105T080000/obj.csv.gz")
    text = str(caught.value)
    assert text.startswith("bucket/202601/20260105T080000/obj.csv.gz") and message in text and "\n" not in text


def test_a_header_missing_billed_cost_is_refused(tmp_path):
    header = [c for c in csv_text([BASE_ROW]).splitlines()[0].split(",") if c != "BilledCost"]
    path = write_export(tmp_path / "x.csv", csv_text([BASE_ROW], header=header))
    with pytest.raises(ExportFileError, match="line 1: header lacks required column.s. BilledCost"):
        records(path)


def test_a_zip_bomb_is_refused_at_the_configured_limit(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.csv", csv_text([BASE_ROW]) + "0" * 5_000_000)
    assert path.stat().st_size < 50_000
    with pytest.raises(ExportFileError, match="big.csv: expands past the configured limit of 1,000,000 bytes"):
        records(path, limit=1_000_000)


def test_ordered_map_keeps_the_order_whatever_finishes_first():
    """Pieces typed two at a time come back in the order of the file, also when a later piece is
    done first; one worker is a plain map."""
    import random
    import time

    from focus_assets.focus.source import ordered_map

    rng = random.Random(3)
    delays = [rng.choice([0.0, 0.002, 0.01]) for _ in range(40)]

    def slow_square(item: int) -> int:
        time.sleep(delays[item])
        return item * item

    for workers in (1, 2, 3):
        assert list(ordered_map(slow_square, iter(range(40)), workers)) == [i * i for i in range(40)]


def test_ordered_map_raises_where_the_failing_item_is_and_hands_out_nothing_after_it():
    from focus_assets.focus.source import ordered_map

    handed_out: list[int] = []

    def items():
        for item in range(100):
            handed_out.append(item)
            yield item

    def fail_at_five(item: int) -> int:
        if item == 5:
            raise ExportFileError("x.csv", "bad record", line=7)
        return item

    results = []
    with pytest.raises(ExportFileError, match="x.csv, line 7: bad record"):
        for value in ordered_map(fail_at_five, items(), 2):
            results.append(value)
    assert results == [0, 1, 2, 3, 4]
    assert max(handed_out) <= 6  # read at most one item ahead per worker, not the whole object


def test_a_piece_buffer_is_never_refilled_while_parsed_text_points_into_it(tmp_path):
    """The C reader's text columns point into their piece's buffer: with every piece dropped and
    only its parsed frame kept, every frame must still hold its own rows at the end."""
    rows = [
        {"BilledCost": str(i), "ResourceId": f"i-{i:08d}-long-enough-to-live-outside-the-view"} for i in range(3000)
    ]
    path = write_export(tmp_path / "x.csv.gz", csv_text(rows))
    member = next(read_csv_members(path, "k", max_uncompressed_bytes=LIMIT, piece_bytes=4096))
    names = list(member.header.names)
    frames = [read_records(piece, names, "k", null_literals=True).text for piece in member.pieces]
    assert len(frames) > 16  # many pieces, each dropped once parsed
    typed = pl.concat(frames)
    assert typed["BilledCost"].to_list() == [str(i) for i in range(3000)]
    assert typed["ResourceId"].to_list() == [row["ResourceId"] for row in rows]


def test_pieces_held_while_the_file_is_read_on_stay_intact(tmp_path):
    """Each piece has a buffer of its own that nothing changes once it is handed out: pieces held
    until the end give back the file, byte for byte."""
    text = csv_text([{"BilledCost": str(i)} for i in range(3000)])
    path = write_export(tmp_path / "x.csv", text)
    held = [
        event
        for event in object_events(path, "k", max_uncompressed_bytes=LIMIT, piece_bytes=4096)
        if isinstance(event, CsvPiece)
    ]
    assert len(held) > 16 and len({id(piece.data) for piece in held}) == len(held)
    assert "".join(piece.data.decode() for piece in held) == text.split("\n", 1)[1]
