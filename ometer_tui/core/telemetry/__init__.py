"""Server telemetry beside a benchmark: Prometheus ``/metrics`` (vLLM, SGLang, TGI,
llama.cpp), llama.cpp ``/slots`` and ``/props``, Ollama ``/api/ps``.

Modules: :mod:`.prometheus` (parsing, known names), :mod:`.recording` (the data kept),
:mod:`.sources` (answers -> series), :mod:`.sampler` (polling), :mod:`.summary` (peaks,
percentiles, client vs server, export section), :mod:`.server_info` (what a server says
about itself, for the endpoints screen), :mod:`.config` (``[telemetry]`` settings and an
endpoint's ``metrics_url``). Kept import-light: ``bench.result``
refers to :class:`~.recording.TelemetryRecording`.
"""

DEFAULT_INTERVAL_S = 1.0
#: the shortest interval between samples
MIN_INTERVAL_S = 0.25
