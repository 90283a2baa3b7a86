"""Frames from files, URLs and live sources: containers and display matrices
(``containers``), decoders and their guards (``decoding``), ``open_video`` and the frame
model (``frames``), frame-index plans (``sampling``), frames to clip arrays
(``transforms``) and live sources (``live``)."""
