#!/usr/bin/env python3
"""Baseline for bench/organize.sh: a pydicom header scan of every file under a folder.

Reads each file with dcmread(stop_before_pixels=True) and touches the attributes an indexer
needs (the same ones rtpipeline's index reads first), in one process, the way a Python
pipeline indexes an export. Prints: files, seconds, files/s.
"""
import os
import sys
import time

import pydicom

ATTRS = ("SOPClassUID", "SOPInstanceUID", "Modality", "PatientID", "StudyInstanceUID",
         "SeriesInstanceUID", "FrameOfReferenceUID", "InstanceNumber", "ImagePositionPatient")


def main(root):
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            paths.append(os.path.join(dirpath, name))
    t0 = time.perf_counter()
    bad = 0
    for p in paths:
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
            for a in ATTRS:
                getattr(ds, a, None)
        except Exception:
            bad += 1
    dt = time.perf_counter() - t0
    print(f"{len(paths)} {dt:.3f} {len(paths) / dt:.0f} {bad}")


if __name__ == "__main__":
    main(sys.argv[1])
