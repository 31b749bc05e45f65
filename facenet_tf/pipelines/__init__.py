"""Apache Beam pipelines (``pip install "facenet-tf[beam]"``): ``bulk_embed``.

Nothing here is imported by ``import facenet_tf``; Beam loads only when a pipeline runs.
"""
