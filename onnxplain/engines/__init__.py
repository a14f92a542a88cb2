"""Ways to run onnxplain on engines that production teams already operate (needs the ``ray`` extra).

- ``onnxplain.engines.ray_serve``: the HTTP server's app in Ray Serve replicas (``onnxplain serve --engine ray``)
- ``onnxplain.engines.ray_data``: the Ray Data settings of the bulk and evaluation jobs

Bulk explanation of a data set, locally or on Ray Data, is in ``onnxplain.bulk``.
"""
