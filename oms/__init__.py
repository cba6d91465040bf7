"""oms-stream: the command line, the settings and the local infrastructure helpers."""
