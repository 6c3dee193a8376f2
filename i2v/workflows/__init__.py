"""The workflows: what the studio service does several times or over its results (a guidance sweep, a
batch, smoothing, a long video and its joins, auto-tune), one module each."""
