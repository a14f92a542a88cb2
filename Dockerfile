# onnxplain server, runtime only: numpy, onnx, onnxruntime, tokenizers and the serve extra, no PyTorch.
#   docker build -t onnxplain .
#   docker run --rm -p 8000:8000 -v /path/to/artifact:/artifact:ro onnxplain
# Extra arguments go to `onnxplain serve`, e.g. `... onnxplain --max-texts 16 --threads 2`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY onnxplain ./onnxplain
# The runtime and the serve extra only, then prove that PyTorch and matplotlib did not come along.
RUN pip install '.[serve]' \
    && python -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) for m in ('torch', 'matplotlib')))" \
    && python -c "import onnxplain.runtime.server"

RUN useradd --create-home --uid 10001 onnxplain
USER onnxplain
WORKDIR /home/onnxplain

# Mount an artifact directory (model.onnx, tokenizer.json, manifest.json) here, or COPY one in a derived image.
VOLUME ["/artifact"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"
ENTRYPOINT ["onnxplain", "serve", "/artifact", "--host", "0.0.0.0", "--port", "8000"]
