"""Server telemetry beside a benchmark: Prometheus ``/metrics`` (vLLM, SGLang, TGI,
llama.cpp), llama.cpp ``/slots`` and ``/props``, Ollama ``/api/ps``.

Modules: :mod:`.prometheus` (parsing, known names), :mod:`.recording` (the data kept),
:mod:`.sources` (answers -> series), :mod:`.sampler` (polling), :mod:`.summary` (peaks,
percentiles, client vs server, export section). Kept import-light: ``bench.result``
refers to :class:`~.recording.TelemetryRecording`.
"""
