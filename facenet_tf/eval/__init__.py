"""Evaluation: LFW pairs and YouTube Faces splits (``pairs``), the k-fold verification
protocol (``verification``), set-to-set verification (``set_verification``),
identification, clustering, reports, an embedding cache, and the ``evaluate`` binary.

Submodules are imported explicitly (``from facenet_tf.eval import verification``) so that
importing the package stays cheap.
"""
