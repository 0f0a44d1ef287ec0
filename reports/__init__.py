"""reports: read a stored sweep into tidy frames, compute statistics, draw and write the report.

Imports neither TensorFlow nor Ray: a report needs only the files a sweep wrote.
"""

from reports.frames import export_frames, load_frames
from reports.html import write_report

__all__ = ["export_frames", "load_frames", "write_report"]
