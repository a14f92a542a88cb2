"""Model recipes: rebuild a real explainer from packages (base weights, data), reproducibly.

Needs PyTorch (the ``export`` extra); the runtime never imports it. ``onnxplain build`` and ``onnxplain
demo`` are its commands; ``build.build`` is the whole pipeline.
"""
