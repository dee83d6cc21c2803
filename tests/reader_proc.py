"""A subscriber run as a separate process by the stress test.

    python reader_proc.py PRODUCER STREAM TOTAL DELAY_S MAX_RECORDS

Reads until it has accounted for TOTAL records (received + lost), checking that every record
received is intact (fields derived from its sequence number), in order and never duplicated.
Prints one JSON line with its counts.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from producers.transport import stress_records

from webmon import Subscriber


def main() -> None:
    name, stream, total, delay, max_records = sys.argv[1:]
    total, delay, max_records = int(total), float(delay), int(max_records)
    sub = Subscriber(name)
    sub.read(stream, max_records=0)
    print("ATTACHED", flush=True)
    received = lost = bad = dup_or_disorder = 0
    last = -1
    deadline = time.monotonic() + 240
    while received + lost < total and time.monotonic() < deadline:
        batch = sub.read(stream, max_records=max_records or None)
        lost += batch.lost
        recs = batch.records
        if len(recs):
            seq = recs["seq"].astype(np.int64)
            if seq[0] <= last or np.any(np.diff(seq) <= 0):
                dup_or_disorder += 1
            # compare with records rebuilt from each sequence number, field by field
            ref = stress_records(recs["seq"])
            bad += int(np.count_nonzero(recs != ref))
            received += len(recs)
            last = int(seq[-1])
        if delay:
            time.sleep(delay)
    print(json.dumps({"received": received, "lost": lost, "bad": bad,
                      "disorder": dup_or_disorder, "last": last, "cursor": batch.end}))
    sub.close()


if __name__ == "__main__":
    main()
